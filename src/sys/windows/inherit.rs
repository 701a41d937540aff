//! Pipes handed to a child process by handle value, and taken over by that
//! value in the child.

use std::{
    fs::File,
    io,
    os::windows::io::{AsRawHandle, FromRawHandle, OwnedHandle, RawHandle},
    sync::Mutex,
};

use tokio::process::{Child, Command};
use windows_sys::Win32::{
    Foundation::{
        HANDLE, HANDLE_FLAG_INHERIT, INVALID_HANDLE_VALUE, NO_ERROR, SetHandleInformation,
    },
    Storage::FileSystem::{FILE_TYPE_PIPE, FILE_TYPE_UNKNOWN, GetFileType},
    System::Pipes::GetNamedPipeServerProcessId,
};

use crate::sys::Access;

/// Held while this crate's handles are inheritable, so that a child one
/// thread starts through this crate never inherits the pipes of a child
/// another thread starts. (Children started elsewhere can: Windows hands
/// every inheritable handle to every child started meanwhile.)
static SPAWN_LOCK: Mutex<()> = Mutex::new(());

pub(crate) fn for_child(file: File) -> io::Result<File> {
    Ok(file)
}

pub(crate) fn number(file: &File) -> u64 {
    file.as_raw_handle().addr() as u64
}

/// A pipe's creator is its server end's process: this one.
pub(crate) fn identity(_file: &File) -> io::Result<String> {
    Ok(std::process::id().to_string())
}

pub(crate) fn spawn_inheriting(command: &mut Command, files: &[&File]) -> io::Result<Child> {
    let _lock = SPAWN_LOCK
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let mut result = files
        .iter()
        .try_for_each(|file| set_inheritable(file.as_raw_handle(), true))
        .and_then(|()| command.spawn());
    for file in files {
        if let Err(err) = set_inheritable(file.as_raw_handle(), false) {
            result = result.and(Err(err));
        }
    }
    result
}

fn set_inheritable(handle: RawHandle, inherit: bool) -> io::Result<()> {
    let flags = if inherit { HANDLE_FLAG_INHERIT } else { 0 };
    // SAFETY: changes a flag of a handle this process holds open for the
    // duration of the call; no memory is passed.
    if unsafe { SetHandleInformation(handle, HANDLE_FLAG_INHERIT, flags) } == 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// A handle value that [`check`] found to be an open pipe.
#[derive(Debug)]
pub(crate) struct Checked(HANDLE);

/// Checks that handle `number` is an open pipe and not stdin, stdout or
/// stderr; with `identity`, that this process's parent created it.
///
/// Windows cannot say cheaply which end of a pipe a handle is, so `access`
/// only shapes the messages.
pub(crate) fn check(number: u64, access: Access, identity: Option<&str>) -> io::Result<Checked> {
    let value =
        usize::try_from(number).map_err(|_| invalid(format!("{number} is not a handle value")))?;
    let handle: HANDLE = std::ptr::without_provenance_mut(value);
    if handle.is_null() || handle == INVALID_HANDLE_VALUE {
        return Err(invalid(format!("{number} is not a handle value")));
    }
    let std_handles = [
        ("stdin", std::io::stdin().as_raw_handle()),
        ("stdout", std::io::stdout().as_raw_handle()),
        ("stderr", std::io::stderr().as_raw_handle()),
    ];
    if let Some((name, _)) = std_handles.iter().find(|(_, raw)| *raw == handle) {
        return Err(invalid(format!(
            "handle {number} is this process's {name}; serve on it with `PipeStream::stdio`"
        )));
    }
    // SAFETY: asks the type of a handle value; no memory is passed, and a
    // value that is not an open handle yields FILE_TYPE_UNKNOWN.
    let kind = unsafe { GetFileType(handle) };
    if kind != FILE_TYPE_PIPE {
        let err = io::Error::last_os_error();
        return Err(
            if kind == FILE_TYPE_UNKNOWN && err.raw_os_error() != Some(NO_ERROR as i32) {
                io::Error::new(
                    err.kind(),
                    format!(
                        "handle {number} is not open (was it inherited from the parent?): {err}"
                    ),
                )
            } else {
                invalid(format!(
                    "handle {number} is not a pipe, so it cannot be the pipe for {}",
                    access.verb()
                ))
            },
        );
    }
    if let Some(expected) = identity {
        let mut server = 0u32;
        // SAFETY: `handle` is an open pipe (checked above) and `server` is a
        // valid place for the call to write a u32.
        let ok = unsafe { GetNamedPipeServerProcessId(handle, &mut server) };
        let actual = if ok == 0 {
            format!("unknown ({})", io::Error::last_os_error())
        } else {
            server.to_string()
        };
        if actual != expected {
            return Err(invalid(format!(
                "handle {number} is not the pipe the parent made for this process \
                 (created by process {expected}, found {actual}); \
                 was the variable inherited from a grandparent?"
            )));
        }
    }
    Ok(Checked(handle))
}

/// Takes ownership of a checked handle, and keeps it from the children this
/// process starts.
///
/// # Safety
///
/// Nothing else in this process owns the handle or uses it afterwards.
pub(crate) unsafe fn take(checked: Checked) -> io::Result<File> {
    // SAFETY: the caller guarantees that nothing else owns the handle, and
    // `check` found it open.
    let handle = unsafe { OwnedHandle::from_raw_handle(checked.0) };
    set_inheritable(handle.as_raw_handle(), false)?;
    Ok(File::from(handle))
}

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, message)
}
