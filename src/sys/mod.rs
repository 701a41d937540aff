//! The operating-system calls that tokio and std do not wrap.
//!
//! This is the only module of the crate allowed `unsafe` code, so that every
//! foreign call, and the argument for why it is sound, is in one place. Each
//! function here is a safe wrapper: it borrows what it passes to the OS for
//! the duration of the call and checks every result.
#![allow(unsafe_code)]

#[cfg(unix)]
pub(crate) mod unix;
#[cfg(windows)]
pub(crate) mod windows;
