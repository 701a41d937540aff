//! Unix: the process's own identity; handing a pipe to a child under a
//! descriptor number, and taking it over by that number in the child.

use std::{
    fs::File,
    io,
    os::{
        fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd},
        unix::fs::MetadataExt,
    },
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
};

use rustix::{fs::OFlags, io::FdFlags};
use tokio::process::{Child, Command};

use super::Access;

pub(crate) fn spawn_inheriting(command: &mut Command, files: &[&File]) -> io::Result<Child> {
    if files.is_empty() {
        // Without a pre_exec hook, std may use the faster posix_spawn.
        return command.spawn();
    }
    let _guard = inherit(command, files);
    command.spawn()
}

/// Keeps the descriptors `files` open across `exec` in the next child
/// `command` starts, under the numbers they have here; drop the returned
/// guard once that child is started.
///
/// Only that child gets them: they stay close-on-exec in this process, so a
/// child another thread starts meanwhile inherits nothing.
fn inherit(command: &mut Command, files: &[&File]) -> InheritGuard {
    let numbers: Vec<RawFd> = files.iter().map(|file| file.as_raw_fd()).collect();
    let armed = Arc::new(AtomicBool::new(true));
    let flag = Arc::clone(&armed);
    // Runs in the child between fork and exec, where only async-signal-safe
    // calls are allowed: an atomic load and fcntl are, and nothing here
    // allocates. Once the guard is dropped, a later spawn from the same
    // command leaves the (by then closed or reused) numbers alone.
    let keep_open = move || {
        if !flag.load(Ordering::Acquire) {
            return Ok(());
        }
        for &fd in &numbers {
            // SAFETY: `fd` is open in the child, because the parent held it
            // open across the fork, and nothing closes it before `exec`.
            let fd = unsafe { BorrowedFd::borrow_raw(fd) };
            let flags = rustix::io::fcntl_getfd(fd)?;
            rustix::io::fcntl_setfd(fd, flags - FdFlags::CLOEXEC)?;
        }
        Ok(())
    };
    // SAFETY: `keep_open` is async-signal-safe, as required of a pre_exec
    // closure (see above).
    unsafe {
        command.pre_exec(keep_open);
    }
    InheritGuard(armed)
}

/// Ends what [`inherit`] arranged, when dropped.
#[derive(Debug)]
struct InheritGuard(Arc<AtomicBool>);

impl Drop for InheritGuard {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

/// A pipe end for a child: moved off 0, 1 and 2, which the child's stdio
/// will take.
pub(crate) fn for_child(file: File) -> io::Result<File> {
    if file.as_raw_fd() > 2 {
        return Ok(file);
    }
    // `try_clone` asks for the lowest free number from 3 up.
    file.try_clone()
}

/// The number a child sees `file` under.
pub(crate) fn number(file: &File) -> u64 {
    // Descriptors are never negative.
    u64::try_from(file.as_raw_fd()).unwrap_or_default()
}

/// What tells this pipe from any other: its device and inode.
pub(crate) fn identity(file: &File) -> io::Result<String> {
    let meta = file.metadata()?;
    Ok(format!("{}.{}", meta.dev(), meta.ino()))
}

/// A descriptor number that [`check`] found open and usable.
#[derive(Debug)]
pub(crate) struct Checked(RawFd);

/// Checks that descriptor `number` is open, open for `access`, and is not
/// stdin, stdout or stderr; with `identity`, that it is that pipe.
pub(crate) fn check(number: u64, access: Access, identity: Option<&str>) -> io::Result<Checked> {
    let fd = RawFd::try_from(number)
        .map_err(|_| invalid(format!("{number} is not a descriptor number")))?;
    if fd <= 2 {
        return Err(invalid(format!(
            "descriptor {fd} is this process's {}; serve on it with `PipeStream::stdio`",
            ["stdin", "stdout", "stderr"][fd as usize]
        )));
    }
    // SAFETY: the borrow ends before this function returns, and is first
    // used to read the descriptor's status flags, which fails with EBADF
    // when the number is not open; only an open descriptor's identity is
    // read next.
    let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
    let flags = rustix::fs::fcntl_getfl(borrowed).map_err(|err| {
        let err = io::Error::from(err);
        io::Error::new(
            err.kind(),
            format!("descriptor {fd} is not open (was it inherited from the parent?): {err}"),
        )
    })?;
    let mode = flags & OFlags::RWMODE;
    let usable = match access {
        Access::Read => mode == OFlags::RDONLY || mode == OFlags::RDWR,
        Access::Write => mode == OFlags::WRONLY || mode == OFlags::RDWR,
    };
    if !usable {
        return Err(invalid(format!(
            "descriptor {fd} is not open for {}; is it the other end of the pipe?",
            access.verb()
        )));
    }
    if let Some(expected) = identity {
        let actual = identity_of(borrowed)?;
        if actual != expected {
            return Err(invalid(format!(
                "descriptor {fd} is not the pipe the parent made for this process \
                 (pipe {expected}, found {actual}); was the variable inherited from a grandparent?"
            )));
        }
    }
    Ok(Checked(fd))
}

fn identity_of(fd: BorrowedFd<'_>) -> io::Result<String> {
    identity(&File::from(fd.try_clone_to_owned()?))
}

/// Takes ownership of a checked descriptor, and keeps it from the children
/// this process starts.
///
/// # Safety
///
/// Nothing else in this process owns the descriptor or uses it afterwards.
pub(crate) unsafe fn take(checked: Checked) -> io::Result<File> {
    // SAFETY: the caller guarantees that nothing else owns `checked.0`, and
    // `check` found it open.
    let fd = unsafe { OwnedFd::from_raw_fd(checked.0) };
    set_cloexec(fd.as_fd())?;
    Ok(File::from(fd))
}

fn set_cloexec(fd: BorrowedFd<'_>) -> io::Result<()> {
    let flags = rustix::io::fcntl_getfd(fd)?;
    rustix::io::fcntl_setfd(fd, flags | FdFlags::CLOEXEC)?;
    Ok(())
}

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, message)
}

/// The effective user id of this process: the uid the kernel reports to the
/// peers of its sockets, and the one a same-user policy compares with.
pub(crate) fn effective_uid() -> u32 {
    rustix::process::geteuid().as_raw()
}
