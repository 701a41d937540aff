/*
 * bcryptprimitives.dll shim for Wine 8, which does not ship that DLL.
 *
 * Rust's std (1.78 and later) on Windows imports ProcessPrng from
 * bcryptprimitives.dll to seed HashMap keys and the like; without it every
 * Rust test binary fails to load under Wine 8. On real Windows, ProcessPrng
 * fills the buffer from the system's RNG and never fails; here it forwards to
 * BCryptGenRandom with the system-preferred RNG, which Wine implements.
 *
 * Built by .ci/windows/setup into the Wine prefix's system32:
 *   x86_64-w64-mingw32-gcc -shared -O2 -s -o bcryptprimitives.dll \
 *       bcryptprimitives.c -lbcrypt
 */
#include <windows.h>
#include <bcrypt.h>

#ifndef BCRYPT_USE_SYSTEM_PREFERRED_RNG
#define BCRYPT_USE_SYSTEM_PREFERRED_RNG 0x00000002
#endif

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
    while (len > 0) {
        /* BCryptGenRandom takes a ULONG length: feed it in chunks. */
        ULONG chunk = len > 0x40000000u ? 0x40000000u : (ULONG)len;
        if (!BCRYPT_SUCCESS(BCryptGenRandom(NULL, data, chunk,
                                            BCRYPT_USE_SYSTEM_PREFERRED_RNG)))
            return FALSE;
        data += chunk;
        len -= chunk;
    }
    return TRUE;
}
