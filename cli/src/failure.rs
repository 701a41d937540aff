//! Why a command failed, and the exit code that tells a script.

use std::{fmt, io, process::ExitCode};

use tower_ipc::jsonrpc::{CallError, ErrorObject};

/// The exit codes listed in `--help`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Exit {
    ErrorAnswer = 1,
    Usage = 2,
    NoServer = 3,
    PermissionDenied = 4,
    TimedOut = 5,
    Failed = 6,
}

/// A failure to report on stderr: `error: MESSAGE`, then the exit code.
#[derive(Debug)]
pub(crate) struct Failure {
    exit: Exit,
    message: String,
}

impl Failure {
    pub(crate) fn new(exit: Exit, message: impl fmt::Display) -> Self {
        Self {
            exit,
            message: message.to_string(),
        }
    }

    /// Bad arguments or input: exit code 2, as clap's own usage errors.
    pub(crate) fn usage(message: impl fmt::Display) -> Self {
        Self::new(Exit::Usage, message)
    }

    /// An I/O error, classified by its kind. The crate's connect and bind
    /// errors already name the endpoint and say what failed.
    pub(crate) fn io(err: io::Error) -> Self {
        let exit = match err.kind() {
            io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused => Exit::NoServer,
            io::ErrorKind::PermissionDenied => Exit::PermissionDenied,
            io::ErrorKind::TimedOut => Exit::TimedOut,
            _ => Exit::Failed,
        };
        Self::new(exit, err)
    }

    /// A failed call of `method` on `endpoint`.
    pub(crate) fn call(endpoint: impl fmt::Display, method: &str, err: CallError) -> Self {
        match err {
            CallError::Rpc(error) => Self::error_answer(method, &error),
            CallError::Connection(err) => Self::new(
                Exit::Failed,
                format_args!("no answer from `{endpoint}` to `{method}`: {err}"),
            ),
            // The params were checked to be JSON, and results are only kept
            // as raw JSON: only a broken server gets here.
            err => Self::new(
                Exit::Failed,
                format_args!("`{endpoint}` sent an answer to `{method}` that is not JSON: {err}"),
            ),
        }
    }

    /// The server answered `method` with an error object: its code and
    /// message, and its data on a line of its own.
    pub(crate) fn error_answer(method: &str, error: &ErrorObject) -> Self {
        let mut message = format!(
            "`{method}` failed with code {}: {}",
            error.code(),
            error.message()
        );
        if let Some(data) = error.data() {
            message.push_str("\ndata: ");
            message.push_str(&crate::json::format(data.get(), false));
        }
        Self::new(Exit::ErrorAnswer, message)
    }

    /// No answer within the `--timeout`.
    pub(crate) fn timed_out(what: impl fmt::Display) -> Self {
        Self::new(Exit::TimedOut, what)
    }

    #[cfg(test)]
    pub(crate) fn exit(&self) -> Exit {
        self.exit
    }

    /// Prints the failure and returns its exit code.
    pub(crate) fn report(self) -> ExitCode {
        eprintln!("error: {}", self.message);
        ExitCode::from(self.exit as u8)
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_errors_map_to_distinct_exit_codes() {
        let exit = |kind| Failure::io(io::Error::new(kind, "x")).exit();
        assert_eq!(exit(io::ErrorKind::NotFound), Exit::NoServer);
        assert_eq!(exit(io::ErrorKind::ConnectionRefused), Exit::NoServer);
        assert_eq!(
            exit(io::ErrorKind::PermissionDenied),
            Exit::PermissionDenied
        );
        assert_eq!(exit(io::ErrorKind::TimedOut), Exit::TimedOut);
        assert_eq!(exit(io::ErrorKind::AddrInUse), Exit::Failed);
    }

    #[test]
    fn error_answer_shows_code_message_and_data() {
        let error = ErrorObject::new(-32000, "no funds").with_data(&serde_json::json!({"need": 5}));
        let failure = Failure::error_answer("pay", &error);
        assert_eq!(failure.exit(), Exit::ErrorAnswer);
        assert_eq!(
            failure.to_string(),
            "`pay` failed with code -32000: no funds\ndata: {\"need\":5}"
        );
    }
}
