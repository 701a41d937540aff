//! Unix: the process's own identity.

/// The effective user id of this process: the uid the kernel reports to the
/// peers of its sockets, and the one a same-user policy compares with.
pub(crate) fn effective_uid() -> u32 {
    // SAFETY: geteuid takes no arguments, touches no memory of ours and
    // cannot fail (POSIX: "shall always be successful").
    unsafe { libc::geteuid() }
}
