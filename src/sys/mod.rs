//! The operating-system calls that tokio and std do not wrap.
//!
//! This is the only module of the crate allowed `unsafe` code, so that every
//! foreign call, and the argument for why it is sound, is in one place. Each
//! function here is a safe wrapper: it borrows what it passes to the OS for
//! the duration of the call and checks every result. The exceptions are the
//! functions that take over a descriptor or handle by its number, which are
//! `unsafe` because only the caller can know that nothing else owns it.
#![allow(unsafe_code)]

#[cfg(unix)]
pub(crate) mod unix;
#[cfg(windows)]
pub(crate) mod windows;

#[cfg(unix)]
use unix as imp;
#[cfg(windows)]
use windows as imp;

use std::{
    fs::File,
    io,
    sync::atomic::{AtomicBool, Ordering},
};

use tokio::process::{Child, Command};

/// What a process does with its end of a pipe.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Access {
    Read,
    Write,
}

impl Access {
    fn verb(self) -> &'static str {
        match self {
            Self::Read => "reading",
            Self::Write => "writing",
        }
    }
}

/// A pipe, as its read end and its write end; children inherit neither.
pub(crate) fn pipe() -> io::Result<(File, File)> {
    #[cfg(unix)]
    type Owned = std::os::fd::OwnedFd;
    #[cfg(windows)]
    type Owned = std::os::windows::io::OwnedHandle;

    let (read, write) = std::io::pipe()?;
    Ok((
        File::from(Owned::from(read)),
        File::from(Owned::from(write)),
    ))
}

/// Makes `file` ready to be handed to a child by number.
pub(crate) fn for_child(file: File) -> io::Result<File> {
    imp::for_child(file)
}

/// The number the child sees `file` under: a descriptor on Unix, a handle
/// value on Windows.
pub(crate) fn number(file: &File) -> u64 {
    imp::number(file)
}

/// A string the child can check a pipe's identity against, so that it
/// never takes over a number that names something else.
pub(crate) fn identity(file: &File) -> io::Result<String> {
    imp::identity(file)
}

/// Starts `command` with `files` inherited under their numbers (see
/// [`number`]), and only those besides its stdio.
pub(crate) fn spawn_inheriting(command: &mut Command, files: &[&File]) -> io::Result<Child> {
    imp::spawn_inheriting(command, files)
}

/// Takes over the lifetime pipe the parent named in the environment.
///
/// Only once per process: a second call fails.
pub(crate) fn take_lifetime_pipe(number: u64, identity: &str) -> io::Result<File> {
    static TAKEN: AtomicBool = AtomicBool::new(false);
    let checked = imp::check(number, Access::Write, Some(identity))?;
    if TAKEN.swap(true, Ordering::AcqRel) {
        return Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!("the lifetime pipe ({number}) was already taken over in this process"),
        ));
    }
    // SAFETY: the number names the pipe this process's parent created for
    // it (`check` compared its identity with the one the parent recorded),
    // which only this function takes over, and only once per process.
    unsafe { imp::take(checked) }
}

/// Takes over two pipes this process inherited by number, one to read and
/// one to write, after checking both: they must differ, name open pipes (on
/// Unix: open for reading and for writing respectively), and not be this
/// process's stdin, stdout or stderr. Nothing is taken over when a check
/// fails; the error names the number.
///
/// # Safety
///
/// The numbers must be this process's to own: inherited for this purpose,
/// not taken over or used by anything else in the process, then or later.
pub(crate) unsafe fn take_pipes(read: u64, write: u64) -> io::Result<(File, File)> {
    if read == write {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("the read and write pipes are both {read}: they must be two pipes"),
        ));
    }
    let read = imp::check(read, Access::Read, None)?;
    let write = imp::check(write, Access::Write, None)?;
    // SAFETY: the caller guarantees that this process owns both numbers and
    // that nothing else uses them.
    unsafe { Ok((imp::take(read)?, imp::take(write)?)) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_accepts_a_pipe_with_its_identity_and_refuses_another() {
        let (_read, write) = pipe().expect("pipe");
        let number = number(&write);
        let identity = identity(&write).expect("identity");
        imp::check(number, Access::Write, Some(&identity)).expect("its own identity");

        let err = imp::check(number, Access::Write, Some("0.0")).expect_err("another identity");
        let message = err.to_string();
        assert!(
            message.contains("not the pipe the parent made for this process"),
            "{message}"
        );
        assert!(message.contains(&number.to_string()), "{message}");
    }

    #[test]
    fn check_refuses_stdio_and_numbers_that_are_not_open() {
        // Far above anything a test process opens.
        let err = imp::check(0x0fff_fff0, Access::Read, None).expect_err("not open");
        assert!(err.to_string().contains("is not open"), "{err}");
        assert!(err.to_string().contains(&0x0fff_fff0.to_string()), "{err}");

        #[cfg(unix)]
        let stdout = 1;
        #[cfg(windows)]
        let stdout = {
            use std::os::windows::io::AsRawHandle;
            std::io::stdout().as_raw_handle().addr() as u64
        };
        let err = imp::check(stdout, Access::Write, None).expect_err("stdout");
        assert!(err.to_string().contains("this process's stdout"), "{err}");
    }
}
