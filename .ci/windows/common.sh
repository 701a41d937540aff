# shellcheck shell=bash disable=SC2034 # variables used by the scripts that source this
# Shared settings for .ci/windows/setup and .ci/windows/cargo (sourced, not run).
#
# The Windows build uses Debian's rustc-web/cargo-web (rustup has no Windows
# target here), which builds std from rust-web-src with -Zbuild-std, links with
# MinGW-w64 and runs binaries under Wine 8 (64-bit).

WIN_TARGET=x86_64-pc-windows-gnu
WIN_TARGET_ENV=X86_64_PC_WINDOWS_GNU          # for CARGO_TARGET_<triple>_*
WEB_RUSTC=/usr/bin/rustc                      # from rustc-web
WEB_RUSTDOC=/usr/bin/rustdoc                  # from rustc-web
WEB_CARGO=/usr/bin/cargo                      # from cargo-web
WEB_CARGO_CLIPPY=/usr/bin/cargo-clippy        # from rust-web-clippy (optional)
WEB_CLIPPY_DRIVER=/usr/bin/clippy-driver      # from rust-web-clippy (optional)
WEB_STD_SRC=/usr/lib/rustlib/src/rust/library # from rust-web-src
MINGW_GCC=x86_64-w64-mingw32-gcc              # from mingw-w64
WINE64=/usr/lib/wine/wine64                   # from wine64
WINESERVER=/usr/lib/wine/wineserver           # from libwine

# Packages .ci/windows/setup installs when missing. rust-web-clippy is the
# clippy built for rustc-web; it only adds lints, so the build works without it.
WIN_REQUIRED_PACKAGES=(rustc-web cargo-web rust-web-src mingw-w64 wine64)
WIN_OPTIONAL_PACKAGES=(rust-web-clippy)

# A dedicated Wine prefix, so the user's ~/.wine is left alone and the
# bcryptprimitives.dll shim lives only here. It is kept outside target/ so that
# `cargo clean` does not throw away the (slow to create) prefix.
# Set WINEPREFIX to use another one (it is created by .ci/windows/setup).
export WINEPREFIX="${WINEPREFIX:-${XDG_CACHE_HOME:-$HOME/.cache}/tower-ipc/wine64}"
export WINEARCH=win64
export WINEDEBUG="${WINEDEBUG:--all}"        # Wine's fixme:/err: chatter off
# No Mono/Gecko install prompts, no desktop menu entries in $HOME.
export WINEDLLOVERRIDES="${WINEDLLOVERRIDES:-mscoree,mshtml=;winemenubuilder.exe=d}"

WIN_PREFIX_STAMP="$WINEPREFIX/.tower-ipc-prefix-ready"
WIN_DLL="$WINEPREFIX/drive_c/windows/system32/bcryptprimitives.dll"

win_log() { printf 'windows/%s: %s\n' "${WIN_SCRIPT:-ci}" "$*" >&2; }
win_die() { win_log "error: $*"; exit 1; }

win_pkg_installed() {
  [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = "install ok installed" ]
}

# Non-empty output = what is missing for building (not running) Windows code.
win_missing_build_tools() {
  [ -x "$WEB_RUSTC" ] || echo "$WEB_RUSTC (rustc-web)"
  [ -x "$WEB_CARGO" ] || echo "$WEB_CARGO (cargo-web)"
  [ -d "$WEB_STD_SRC/std" ] || echo "$WEB_STD_SRC (rust-web-src)"
  command -v "$MINGW_GCC" >/dev/null 2>&1 || echo "$MINGW_GCC (mingw-w64)"
}

# Non-empty output = what is missing for running Windows binaries under Wine.
win_missing_run_tools() {
  [ -x "$WINE64" ] || echo "$WINE64 (wine64)"
  [ -x "$WINESERVER" ] || echo "$WINESERVER (libwine)"
  [ -f "$WIN_PREFIX_STAMP" ] || echo "the Wine prefix $WINEPREFIX"
  [ -f "$WIN_DLL" ] || echo "$WIN_DLL"
}

# C programs the Windows tests run (.ci/windows/peers/*.c): peers such as
# the ipc.h-style server and client, and tools such as ctrl-c.
WIN_PEERS_SRC="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/peers"

# Builds each peer into DIR/NAME.exe when it is missing or older than its
# source; quiet when nothing changed.
win_build_peers() { # DIR
  local out="$1" src name exe
  mkdir -p "$out"
  for src in "$WIN_PEERS_SRC"/*.c; do
    name="$(basename "$src" .c)"
    exe="$out/$name.exe"
    [ -f "$exe" ] && [ "$exe" -nt "$src" ] && continue
    win_log "building the test peer $name.exe"
    "$MINGW_GCC" -O2 -s -Wall -Wextra -Werror -o "$exe.tmp" "$src" \
      || { rm -f "$exe.tmp"; win_die "could not build $src"; }
    mv -f "$exe.tmp" "$exe"
  done
}

win_have_clippy() {
  [ -x "$WEB_CARGO_CLIPPY" ] && [ -x "$WEB_CLIPPY_DRIVER" ]
}
