//! Message-type named pipes, read and written by blocking threads.
//!
//! tokio's named pipes read through a 4 KiB buffer and hand out the bytes of
//! a longer message in pieces, with nothing to say where it ends. Here
//! every operation is overlapped I/O on a handle that no completion port
//! knows, waited for on the calling thread: a read returns one whole
//! message, asking the pipe how much of it is left when it does not fit
//! (`ERROR_MORE_DATA`), and a write sends one message.
//!
//! Each wait also watches the pipe's `closed` event, so that
//! [`MessagePipe::close`] ends every operation pending or started later on
//! any thread: it is cancelled and waited for before its call returns, so
//! the buffer and the `OVERLAPPED` it uses outlive it.

use std::{
    ffi::OsStr,
    fmt, io,
    os::windows::{
        ffi::OsStrExt,
        io::{AsRawHandle, FromRawHandle, OwnedHandle, RawHandle},
    },
    ptr,
};

use windows_sys::Win32::{
    Foundation::{
        ERROR_BROKEN_PIPE, ERROR_IO_PENDING, ERROR_MORE_DATA, ERROR_NO_DATA,
        ERROR_OPERATION_ABORTED, ERROR_PIPE_CONNECTED, ERROR_PIPE_NOT_CONNECTED, GetLastError,
        HANDLE, INVALID_HANDLE_VALUE, STATUS_PENDING, WAIT_OBJECT_0,
    },
    Storage::FileSystem::{
        FILE_FLAG_FIRST_PIPE_INSTANCE, FILE_FLAG_OVERLAPPED, PIPE_ACCESS_DUPLEX, ReadFile,
        WriteFile,
    },
    System::{
        IO::{CancelIoEx, GetOverlappedResult, OVERLAPPED},
        Pipes::{
            ConnectNamedPipe, CreateNamedPipeW, PIPE_READMODE_MESSAGE, PIPE_REJECT_REMOTE_CLIENTS,
            PIPE_TYPE_MESSAGE, PIPE_UNLIMITED_INSTANCES, PIPE_WAIT, PeekNamedPipe,
            SetNamedPipeHandleState,
        },
        Threading::{CreateEventW, INFINITE, SetEvent, WaitForMultipleObjects},
    },
};

use super::{SecurityDescriptor, open_client_handle};

/// The pipe's buffer each way, as tokio sizes them; a larger message waits
/// for its reader instead of failing.
const BUFFER_SIZE: u32 = 64 * 1024;

/// What the first read of a message asks for; the rest of a longer message
/// is read in one more call, sized by asking the pipe.
const FIRST_READ: usize = 4 * 1024;

/// One instance of a message-type named pipe: the server's end, or a
/// client's opened in message read mode.
pub(crate) struct MessagePipe {
    handle: OwnedHandle,
    /// A manual-reset event, set once by [`close`](Self::close).
    closed: OwnedHandle,
}

/// What [`MessagePipe::read_message`] found.
#[derive(Debug)]
pub(crate) enum Message {
    /// One whole message.
    Data(Vec<u8>),
    /// A message of this many bytes, over the maximum; it was not read.
    TooLong(usize),
    /// The other end closed the pipe.
    End,
}

/// How an operation completed.
enum Completion {
    Done(u32),
    /// A read that filled its buffer before the message ended.
    MoreData(u32),
}

impl MessagePipe {
    /// Creates an instance of the message-type pipe `name` (the first one,
    /// which fails if the name exists, when `first`), protected by
    /// `security`; remote clients are rejected.
    pub(crate) fn create(
        name: &str,
        first: bool,
        security: &SecurityDescriptor,
    ) -> io::Result<Self> {
        let wide = wide(name);
        let mut open_mode = PIPE_ACCESS_DUPLEX | FILE_FLAG_OVERLAPPED;
        if first {
            open_mode |= FILE_FLAG_FIRST_PIPE_INSTANCE;
        }
        let mut attributes = security.attributes();
        // SAFETY: `wide` is NUL-terminated and `attributes` points at a
        // descriptor borrowed from `security`; both outlive the call, which
        // copies what it needs.
        let handle = unsafe {
            CreateNamedPipeW(
                wide.as_ptr(),
                open_mode,
                PIPE_TYPE_MESSAGE | PIPE_READMODE_MESSAGE | PIPE_WAIT | PIPE_REJECT_REMOTE_CLIENTS,
                PIPE_UNLIMITED_INSTANCES,
                BUFFER_SIZE,
                BUFFER_SIZE,
                0,
                &raw mut attributes,
            )
        };
        Self::new(owned(handle)?)
    }

    /// Opens the client end of the pipe `name` with the access clients ask
    /// for, in message read mode.
    ///
    /// # Errors
    ///
    /// As opening any pipe client; and when the pipe is a byte-type pipe,
    /// which cannot be read in message mode, an error that says so.
    pub(crate) fn open(name: &str) -> io::Result<Self> {
        let handle = open_client_handle(name)?;
        let mode = PIPE_READMODE_MESSAGE;
        // SAFETY: the handle is open; `mode` outlives the call; the other
        // two settings may be null.
        let ok = unsafe {
            SetNamedPipeHandleState(handle.as_raw_handle(), &mode, ptr::null(), ptr::null())
        };
        if ok == 0 {
            let err = io::Error::last_os_error();
            return Err(io::Error::new(
                err.kind(),
                format!(
                    "the pipe cannot be read in message mode; is its server's pipe \
                     byte-type rather than message-type? ({err})"
                ),
            ));
        }
        Self::new(handle)
    }

    fn new(handle: OwnedHandle) -> io::Result<Self> {
        Ok(Self {
            handle,
            closed: event()?,
        })
    }

    /// Waits until a client connects to this server instance.
    pub(crate) fn wait_connected(&self) -> io::Result<()> {
        let mut op = Operation::new()?;
        // SAFETY: the handle is open and `op` stays in place, alive, until
        // `finish` has waited for the operation to end.
        let ok = unsafe { ConnectNamedPipe(self.raw(), op.overlapped()) };
        if ok == 0 {
            // SAFETY: reads this thread's last-error value.
            match unsafe { GetLastError() } {
                // A client came between the instance's creation and now.
                ERROR_PIPE_CONNECTED => return Ok(()),
                ERROR_IO_PENDING => {}
                err => return Err(os_error(err)),
            }
        }
        self.finish(&mut op).map(drop)
    }

    /// Reads the next message whole, unless it is longer than `max` bytes.
    pub(crate) fn read_message(&self, max: usize) -> io::Result<Message> {
        let mut message: Vec<u8> = Vec::with_capacity(max.min(FIRST_READ));
        loop {
            let spare = (message.capacity() - message.len()).min(u32::MAX as usize);
            let mut op = Operation::new()?;
            // SAFETY: the spare capacity after `message.len()` is writable
            // for `spare` bytes and neither moves nor is freed until
            // `finish` has waited for the read to end; `op` stays in place
            // as long.
            let ok = unsafe {
                ReadFile(
                    self.raw(),
                    message.as_mut_ptr().add(message.len()),
                    spare as u32,
                    ptr::null_mut(),
                    op.overlapped(),
                )
            };
            if ok == 0 {
                // SAFETY: reads this thread's last-error value.
                match unsafe { GetLastError() } {
                    ERROR_IO_PENDING | ERROR_MORE_DATA => {}
                    err if is_closed(err) => return end_of(&message),
                    err => return Err(os_error(err)),
                }
            }
            let completion = match self.finish(&mut op) {
                Ok(completion) => completion,
                Err(err) if err.raw_os_error().is_some_and(|e| is_closed(e as u32)) => {
                    return end_of(&message);
                }
                Err(err) => return Err(err),
            };
            let read = match completion {
                Completion::Done(read) | Completion::MoreData(read) => read as usize,
            };
            // SAFETY: the system wrote `read` bytes into the spare capacity.
            unsafe { message.set_len(message.len() + read) };
            if let Completion::Done(_) = completion {
                return Ok(Message::Data(message));
            }
            let size = message.len() + self.left_in_message()?;
            if size > max {
                return Ok(Message::TooLong(size));
            }
            message.reserve_exact(size - message.len());
        }
    }

    /// Writes `message` as one message.
    pub(crate) fn write_message(&self, message: &[u8]) -> io::Result<()> {
        let len = u32::try_from(message.len()).map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "a message of {} bytes is longer than a pipe can carry",
                    message.len()
                ),
            )
        })?;
        let mut op = Operation::new()?;
        // SAFETY: `message` is borrowed, and `op` stays in place, until
        // `finish` has waited for the write to end.
        let ok = unsafe {
            WriteFile(
                self.raw(),
                message.as_ptr(),
                len,
                ptr::null_mut(),
                op.overlapped(),
            )
        };
        if ok == 0 {
            // SAFETY: reads this thread's last-error value.
            match unsafe { GetLastError() } {
                ERROR_IO_PENDING => {}
                err => return Err(os_error(err)),
            }
        }
        match self.finish(&mut op)? {
            Completion::Done(written) if written == len => Ok(()),
            Completion::Done(written) | Completion::MoreData(written) => Err(io::Error::new(
                io::ErrorKind::WriteZero,
                format!("wrote {written} of a message's {len} bytes"),
            )),
        }
    }

    /// Ends every operation on this pipe, pending or to come: they fail with
    /// `ERROR_OPERATION_ABORTED`, or a read finds the end of the stream.
    pub(crate) fn close(&self) {
        // SAFETY: the event is open as long as `self`.
        unsafe { SetEvent(self.closed.as_raw_handle()) };
    }

    fn raw(&self) -> HANDLE {
        self.handle.as_raw_handle()
    }

    /// How many bytes of the message being read are still in the pipe.
    fn left_in_message(&self) -> io::Result<usize> {
        let mut left = 0u32;
        // SAFETY: no buffer (size 0); `left` is a valid place for a u32 and
        // the other out-parameters may be null.
        let ok = unsafe {
            PeekNamedPipe(
                self.raw(),
                ptr::null_mut(),
                0,
                ptr::null_mut(),
                ptr::null_mut(),
                &mut left,
            )
        };
        if ok == 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(left as usize)
    }

    /// Waits for the operation started with `op` to end; cancels it first
    /// when the pipe is closed meanwhile.
    fn finish(&self, op: &mut Operation) -> io::Result<Completion> {
        let handles = [op.event.as_raw_handle(), self.closed.as_raw_handle()];
        let woke = if op.is_complete() {
            WAIT_OBJECT_0
        } else {
            // SAFETY: both events are open for the duration of the call.
            unsafe { WaitForMultipleObjects(2, handles.as_ptr(), 0, INFINITE) }
        };
        if woke != WAIT_OBJECT_0 {
            // Closed, or the wait itself failed: either way the operation
            // must end before its buffer may go.
            // SAFETY: cancels this one operation, whose OVERLAPPED is alive.
            unsafe { CancelIoEx(self.raw(), op.overlapped()) };
        }
        let mut transferred = 0u32;
        // SAFETY: waits (bWait) until the operation has ended, so the system
        // is done with `op` and the buffer when this returns.
        let ok = unsafe { GetOverlappedResult(self.raw(), op.overlapped(), &mut transferred, 1) };
        if ok != 0 {
            return Ok(Completion::Done(transferred));
        }
        // SAFETY: reads this thread's last-error value.
        match unsafe { GetLastError() } {
            ERROR_MORE_DATA => Ok(Completion::MoreData(transferred)),
            err => Err(os_error(err)),
        }
    }
}

impl AsRawHandle for MessagePipe {
    fn as_raw_handle(&self) -> RawHandle {
        self.handle.as_raw_handle()
    }
}

impl fmt::Debug for MessagePipe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MessagePipe")
            .field("handle", &self.handle)
            .finish_non_exhaustive()
    }
}

/// An `OVERLAPPED` and its event, on the heap so that it cannot move while
/// an operation uses it.
struct Operation {
    overlapped: Box<OVERLAPPED>,
    event: OwnedHandle,
}

impl Operation {
    fn new() -> io::Result<Self> {
        let event = event()?;
        let overlapped = Box::new(OVERLAPPED {
            hEvent: event.as_raw_handle(),
            ..OVERLAPPED::default()
        });
        Ok(Self { overlapped, event })
    }

    fn overlapped(&mut self) -> *mut OVERLAPPED {
        &raw mut *self.overlapped
    }

    /// Whether the operation has ended already (Win32's
    /// `HasOverlappedIoCompleted`): one that ends as it starts, such as a
    /// read that found a message waiting, need not be waited for.
    fn is_complete(&self) -> bool {
        // SAFETY: a read of a field the system may write meanwhile, hence
        // volatile; the struct is alive and aligned.
        let status = unsafe { ptr::read_volatile(&raw const self.overlapped.Internal) };
        status != STATUS_PENDING as usize
    }
}

/// The errors a pipe whose other end is gone, or that this side closed,
/// gives a read.
fn is_closed(err: u32) -> bool {
    matches!(
        err,
        ERROR_BROKEN_PIPE | ERROR_PIPE_NOT_CONNECTED | ERROR_NO_DATA | ERROR_OPERATION_ABORTED
    )
}

/// The end of the stream, unless it came in the middle of a message.
fn end_of(message: &[u8]) -> io::Result<Message> {
    if message.is_empty() {
        Ok(Message::End)
    } else {
        Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!("the pipe closed after {} bytes of a message", message.len()),
        ))
    }
}

/// A new manual-reset event, not signalled.
fn event() -> io::Result<OwnedHandle> {
    // SAFETY: no attributes and no name; a handle or null comes back.
    let handle = unsafe { CreateEventW(ptr::null(), 1, 0, ptr::null()) };
    if handle.is_null() {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a valid event handle just created for us, owned by nobody else.
    Ok(unsafe { OwnedHandle::from_raw_handle(handle) })
}

/// Takes ownership of a handle a creating call returned, or its error.
fn owned(handle: HANDLE) -> io::Result<OwnedHandle> {
    if handle == INVALID_HANDLE_VALUE {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a valid handle just created for us, owned by nobody else.
    Ok(unsafe { OwnedHandle::from_raw_handle(handle) })
}

fn os_error(code: u32) -> io::Error {
    io::Error::from_raw_os_error(code as i32)
}

fn wide(s: &str) -> Vec<u16> {
    OsStr::new(s).encode_wide().chain(Some(0)).collect()
}
