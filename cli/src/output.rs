//! Writing results to stdout without panicking when the reader goes away
//! (`tower-ipc subscribe ... | head -3`).

use std::io::{self, IsTerminal, Write};

use crate::failure::{Exit, Failure};

/// Whether output is for a person (pretty JSON, a progress bar) or for a
/// program.
pub(crate) fn stdout_is_terminal() -> bool {
    io::stdout().is_terminal()
}

/// Writes `text` and a newline to stdout.
///
/// # Errors
///
/// `Ok(false)` when the reader has closed the pipe: there is nobody left to
/// print for, which is no failure; a failure for any other write error.
pub(crate) fn line(text: &str) -> Result<bool, Failure> {
    let mut stdout = io::stdout().lock();
    match writeln!(stdout, "{text}").and_then(|()| stdout.flush()) {
        Ok(()) => Ok(true),
        Err(err) if err.kind() == io::ErrorKind::BrokenPipe => Ok(false),
        Err(err) => Err(Failure::new(
            Exit::Failed,
            format_args!("cannot write to stdout: {err}"),
        )),
    }
}

/// Raw bytes for a terminal or a pipe: UTF-8 text as it is, anything else
/// as hex, 32 bytes a line (`xxd -r -p` turns it back into bytes).
pub(crate) fn bytes(data: &[u8]) -> String {
    match std::str::from_utf8(data) {
        Ok(text)
            if !text
                .chars()
                .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t')) =>
        {
            text.strip_suffix('\n').unwrap_or(text).to_owned()
        }
        _ => data
            .chunks(32)
            .map(|chunk| chunk.iter().map(|b| format!("{b:02x}")).collect::<String>())
            .collect::<Vec<_>>()
            .join("\n"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_shown_as_text_and_binary_as_hex() {
        assert_eq!(bytes(b"hello\n"), "hello");
        assert_eq!(bytes(b"tab\there"), "tab\there");
        assert_eq!(bytes(&[0, 1, 0xfe]), "0001fe");
        assert_eq!(bytes(&[0xff; 33]), format!("{}\nff", "ff".repeat(32)));
        assert_eq!(bytes(b""), "");
    }
}
