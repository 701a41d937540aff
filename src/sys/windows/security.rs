//! Security descriptors, user identities, and pipe clients that ask only
//! for the access they need.

use std::{
    ffi::{OsStr, c_void},
    fmt, io,
    os::windows::{
        ffi::OsStrExt,
        io::{AsRawHandle, FromRawHandle, IntoRawHandle, OwnedHandle},
    },
    ptr,
};

use tokio::net::windows::named_pipe::{NamedPipeClient, NamedPipeServer, ServerOptions};
use windows_sys::Win32::{
    Foundation::{
        ERROR_INSUFFICIENT_BUFFER, GENERIC_READ, HANDLE, INVALID_HANDLE_VALUE, LocalFree,
    },
    Security::{
        Authorization::{
            ConvertSidToStringSidW, ConvertStringSecurityDescriptorToSecurityDescriptorW,
            SDDL_REVISION_1,
        },
        GetTokenInformation, PSECURITY_DESCRIPTOR, SECURITY_ATTRIBUTES, TOKEN_QUERY, TOKEN_USER,
        TokenUser,
    },
    Storage::FileSystem::{
        CreateFileW, FILE_FLAG_OVERLAPPED, FILE_GENERIC_READ, FILE_WRITE_ATTRIBUTES,
        FILE_WRITE_DATA, OPEN_EXISTING, SECURITY_IDENTIFICATION, SECURITY_SQOS_PRESENT,
    },
    System::Threading::{
        GetCurrentProcess, OpenProcess, OpenProcessToken, PROCESS_QUERY_LIMITED_INFORMATION,
    },
};

/// The access a pipe client asks for: read, write data, and set the pipe's
/// read mode. Not `GENERIC_WRITE`: it includes `FILE_APPEND_DATA`, which on
/// a pipe is `FILE_CREATE_PIPE_INSTANCE`, the right to add server instances;
/// a descriptor that lets other users connect grants them exactly this mask,
/// so they can be clients but never pose as the server.
pub(crate) const CLIENT_ACCESS: u32 = GENERIC_READ | FILE_WRITE_DATA | FILE_WRITE_ATTRIBUTES;

/// [`CLIENT_ACCESS`] as specific rights, for access control entries.
pub(crate) const CLIENT_RIGHTS: u32 = FILE_GENERIC_READ | FILE_WRITE_DATA | FILE_WRITE_ATTRIBUTES;

/// Memory the system allocated with `LocalAlloc` for us; freed on drop.
struct LocalBox(*mut c_void);

impl Drop for LocalBox {
    fn drop(&mut self) {
        // SAFETY: the pointer came from a system call that allocates with
        // LocalAlloc and hands the memory to the caller; it is freed once,
        // here, and nothing borrows it past its owner.
        unsafe { LocalFree(self.0) };
    }
}

/// A security descriptor built from an SDDL string, to create pipe instances
/// with.
pub(crate) struct SecurityDescriptor {
    descriptor: LocalBox,
    sddl: String,
}

// SAFETY: the descriptor is a self-relative block of memory this value owns
// alone; it is never written after it is built, only read by the system
// calls it is passed to, so moving it to or sharing it with another thread
// is sound.
unsafe impl Send for SecurityDescriptor {}
// SAFETY: as above; `&SecurityDescriptor` only gives read access.
unsafe impl Sync for SecurityDescriptor {}

impl SecurityDescriptor {
    /// Parses `sddl` into a descriptor.
    ///
    /// # Errors
    ///
    /// [`io::ErrorKind::InvalidInput`] naming the string and the system's
    /// reason when the system cannot parse it.
    pub(crate) fn from_sddl(sddl: &str) -> io::Result<Self> {
        let wide: Vec<u16> = OsStr::new(sddl).encode_wide().chain(Some(0)).collect();
        let mut descriptor: PSECURITY_DESCRIPTOR = ptr::null_mut();
        // SAFETY: `wide` is NUL-terminated and outlives the call; the call
        // writes a pointer to memory it allocated into `descriptor`, and the
        // size out-parameter may be null.
        let ok = unsafe {
            ConvertStringSecurityDescriptorToSecurityDescriptorW(
                wide.as_ptr(),
                SDDL_REVISION_1,
                &mut descriptor,
                ptr::null_mut(),
            )
        };
        if ok == 0 || descriptor.is_null() {
            let err = io::Error::last_os_error();
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("invalid security descriptor (SDDL) `{sddl}`: {err}"),
            ));
        }
        Ok(Self {
            descriptor: LocalBox(descriptor),
            sddl: sddl.to_owned(),
        })
    }

    /// The SDDL string this descriptor was built from.
    pub(crate) fn sddl(&self) -> &str {
        &self.sddl
    }

    /// Security attributes that point at this descriptor, for creating
    /// objects with it; valid while `self` is borrowed.
    pub(super) fn attributes(&self) -> SECURITY_ATTRIBUTES {
        SECURITY_ATTRIBUTES {
            nLength: size_of::<SECURITY_ATTRIBUTES>() as u32,
            lpSecurityDescriptor: self.descriptor.0,
            bInheritHandle: 0,
        }
    }

    /// Creates a pipe instance with `options`, protected by this descriptor.
    pub(crate) fn create_pipe(
        &self,
        options: &ServerOptions,
        name: &str,
    ) -> io::Result<NamedPipeServer> {
        let mut attributes = self.attributes();
        // SAFETY: `attributes` is a valid SECURITY_ATTRIBUTES that lives
        // until the call returns, and points at a valid descriptor borrowed
        // from `self` for as long; the system copies what it needs.
        unsafe { options.create_with_security_attributes_raw(name, (&raw mut attributes).cast()) }
    }
}

impl fmt::Debug for SecurityDescriptor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("SecurityDescriptor")
            .field(&self.sddl)
            .finish()
    }
}

#[cfg(test)]
impl SecurityDescriptor {
    /// This descriptor's DACL as the system writes it in SDDL.
    pub(crate) fn to_sddl(&self) -> io::Result<String> {
        descriptor_to_sddl(self.descriptor.0)
    }
}

/// The DACL of the pipe instance `pipe` as the system holds it, in SDDL.
#[cfg(test)]
pub(crate) fn pipe_sddl(pipe: &impl AsRawHandle) -> io::Result<String> {
    use windows_sys::Win32::Security::{
        Authorization::{GetSecurityInfo, SE_KERNEL_OBJECT},
        DACL_SECURITY_INFORMATION,
    };
    let mut descriptor: PSECURITY_DESCRIPTOR = ptr::null_mut();
    // SAFETY: the handle is open while `pipe` is borrowed; the owner, group
    // and ACL out-pointers may be null; the call writes a pointer to a
    // descriptor it allocated with LocalAlloc into `descriptor`.
    let status = unsafe {
        GetSecurityInfo(
            pipe.as_raw_handle(),
            SE_KERNEL_OBJECT,
            DACL_SECURITY_INFORMATION,
            ptr::null_mut(),
            ptr::null_mut(),
            ptr::null_mut(),
            ptr::null_mut(),
            &mut descriptor,
        )
    };
    if status != 0 {
        return Err(io::Error::from_raw_os_error(status as i32));
    }
    let descriptor = LocalBox(descriptor);
    descriptor_to_sddl(descriptor.0)
}

#[cfg(test)]
fn descriptor_to_sddl(descriptor: PSECURITY_DESCRIPTOR) -> io::Result<String> {
    use windows_sys::Win32::Security::{
        Authorization::ConvertSecurityDescriptorToStringSecurityDescriptorW,
        DACL_SECURITY_INFORMATION,
    };
    let mut string: *mut u16 = ptr::null_mut();
    // SAFETY: `descriptor` is a valid descriptor for the call; the call
    // writes a pointer to a string it allocated with LocalAlloc into
    // `string`; the length out-parameter may be null.
    let ok = unsafe {
        ConvertSecurityDescriptorToStringSecurityDescriptorW(
            descriptor,
            SDDL_REVISION_1,
            DACL_SECURITY_INFORMATION,
            &mut string,
            ptr::null_mut(),
        )
    };
    if ok == 0 {
        return Err(io::Error::last_os_error());
    }
    let string = LocalBox(string.cast());
    // SAFETY: a NUL-terminated UTF-16 string owned by `string` until the end
    // of this function.
    Ok(unsafe { wide_to_string(string.0.cast()) })
}

/// The string SID (`S-1-5-21-…`) of the user this process runs as.
pub(crate) fn current_user_sid() -> io::Result<String> {
    // SAFETY: a pseudo-handle for this process; no arguments, cannot fail,
    // and it needs no closing.
    let process = unsafe { GetCurrentProcess() };
    token_user_sid(process)
}

/// The string SID of the user the process `pid` runs as.
///
/// # Errors
///
/// Fails when the process is gone or this process may not query it (a
/// process of another user usually may not be queried).
pub(crate) fn process_user_sid(pid: u32) -> io::Result<String> {
    // SAFETY: plain values in, a handle or null out.
    let handle = unsafe { OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, 0, pid) };
    if handle.is_null() {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a valid process handle just opened for us, owned by nobody
    // else; `OwnedHandle` closes it once.
    let process = unsafe { OwnedHandle::from_raw_handle(handle) };
    token_user_sid(process.as_raw_handle())
}

/// The string SID of the user in `process`'s access token.
fn token_user_sid(process: HANDLE) -> io::Result<String> {
    let mut raw_token: HANDLE = ptr::null_mut();
    // SAFETY: `process` is a valid process handle for the call; the call
    // writes a token handle into `raw_token`.
    if unsafe { OpenProcessToken(process, TOKEN_QUERY, &mut raw_token) } == 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a valid token handle just opened for us, owned by nobody else.
    let token = unsafe { OwnedHandle::from_raw_handle(raw_token) };

    let mut size = 0u32;
    // SAFETY: asks for the size only: a null buffer of length 0.
    let ok = unsafe {
        GetTokenInformation(
            token.as_raw_handle(),
            TokenUser,
            ptr::null_mut(),
            0,
            &mut size,
        )
    };
    if ok == 0 {
        let err = io::Error::last_os_error();
        if err.raw_os_error() != Some(ERROR_INSUFFICIENT_BUFFER as i32) {
            return Err(err);
        }
    }
    // u64s: TOKEN_USER holds a pointer, so the buffer must be aligned for one.
    let mut buffer = vec![0u64; (size as usize).div_ceil(size_of::<u64>())];
    // SAFETY: `buffer` is writable for `size` bytes (or more) and aligned for
    // TOKEN_USER; `size` receives the length written.
    let ok = unsafe {
        GetTokenInformation(
            token.as_raw_handle(),
            TokenUser,
            buffer.as_mut_ptr().cast(),
            size,
            &mut size,
        )
    };
    if ok == 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the call succeeded, so the buffer starts with a TOKEN_USER
    // whose SID points into the same buffer, alive until the end of this
    // function.
    let sid = unsafe { (*buffer.as_ptr().cast::<TOKEN_USER>()).User.Sid };
    let mut string: *mut u16 = ptr::null_mut();
    // SAFETY: `sid` is a valid SID (see above); the call writes a pointer to
    // a string it allocated with LocalAlloc into `string`.
    if unsafe { ConvertSidToStringSidW(sid, &mut string) } == 0 {
        return Err(io::Error::last_os_error());
    }
    let string = LocalBox(string.cast());
    // SAFETY: the system returned a NUL-terminated UTF-16 string, owned by
    // `string` until the end of this function.
    Ok(unsafe { wide_to_string(string.0.cast()) })
}

/// Reads a NUL-terminated UTF-16 string.
///
/// # Safety
///
/// `wide` must point at a NUL-terminated UTF-16 string that stays valid
/// during the call.
unsafe fn wide_to_string(wide: *const u16) -> String {
    let mut len = 0;
    // SAFETY: every element up to and including the NUL is readable.
    while unsafe { *wide.add(len) } != 0 {
        len += 1;
    }
    // SAFETY: the `len` elements before the NUL are readable and initialised.
    String::from_utf16_lossy(unsafe { std::slice::from_raw_parts(wide, len) })
}

/// Opens the client end of the pipe `name` with [`CLIENT_ACCESS`], for
/// identification only (the server cannot act as this client).
pub(crate) fn open_pipe_client(name: &str) -> io::Result<NamedPipeClient> {
    let handle = open_client_handle(name)?;
    // SAFETY: a valid pipe handle, opened for overlapped I/O just now and
    // owned by nobody else; tokio takes ownership (and closes it if it cannot
    // register it).
    unsafe { NamedPipeClient::from_raw_handle(handle.into_raw_handle()) }
}

/// Opens the client end of the pipe `name` for overlapped I/O, with
/// [`CLIENT_ACCESS`], for identification only.
pub(super) fn open_client_handle(name: &str) -> io::Result<OwnedHandle> {
    let wide: Vec<u16> = OsStr::new(name).encode_wide().chain(Some(0)).collect();
    // SAFETY: `wide` is NUL-terminated and outlives the call; no security
    // attributes and no template file are passed.
    let handle = unsafe {
        CreateFileW(
            wide.as_ptr(),
            CLIENT_ACCESS,
            0,
            ptr::null(),
            OPEN_EXISTING,
            FILE_FLAG_OVERLAPPED | SECURITY_SQOS_PRESENT | SECURITY_IDENTIFICATION,
            ptr::null_mut(),
        )
    };
    if handle == INVALID_HANDLE_VALUE {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a valid handle just opened for us, owned by nobody else.
    Ok(unsafe { OwnedHandle::from_raw_handle(handle) })
}

// End of the endpoint security section.
// ---------------------------------------------------------------------------
