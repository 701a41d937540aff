//! Windows: named pipe queries here; the security descriptors and user
//! identities endpoint security needs in `security`; handing pipes to child
//! processes in `inherit`.

mod inherit;
mod message;
mod security;

pub(crate) use inherit::*;
pub(crate) use message::{Message, MessagePipe};
pub(crate) use security::*;

use std::{
    ffi::OsStr,
    io,
    os::windows::{ffi::OsStrExt, io::AsRawHandle},
};

use windows_sys::Win32::{
    Foundation::{ERROR_FILE_NOT_FOUND, ERROR_SEM_TIMEOUT, GetLastError},
    System::Pipes::{GetNamedPipeClientProcessId, WaitNamedPipeW},
};

/// Whether a pipe of this name exists, asked without connecting to it:
/// `Some(true)` when it exists (free or busy), `Some(false)` when it does
/// not, `None` when the system would not say (an invalid name, say).
pub(crate) fn pipe_exists(name: &str) -> Option<bool> {
    let wide: Vec<u16> = OsStr::new(name).encode_wide().chain(Some(0)).collect();
    // SAFETY: `wide` is a NUL-terminated UTF-16 string that outlives the call.
    let free = unsafe { WaitNamedPipeW(wide.as_ptr(), 1) };
    if free != 0 {
        return Some(true);
    }
    // SAFETY: reads this thread's last-error value; no pointers involved.
    match unsafe { GetLastError() } {
        ERROR_SEM_TIMEOUT => Some(true),
        ERROR_FILE_NOT_FOUND => Some(false),
        _ => None,
    }
}

/// The process id of the client connected to the server instance `pipe`.
pub(crate) fn client_process_id(pipe: &impl AsRawHandle) -> io::Result<u32> {
    let mut pid = 0u32;
    // SAFETY: the handle is open for as long as `pipe` is borrowed, and
    // `pid` is a valid place for the call to write a u32.
    let ok = unsafe { GetNamedPipeClientProcessId(pipe.as_raw_handle(), &mut pid) };
    if ok == 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(pid)
    }
}
