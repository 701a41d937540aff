//! Runs the interop suite's checks, each with a time limit, and prints one
//! line per check in the form `interop/run` reads:
//!
//! ```text
//! PASS <check> <what was seen>
//! FAIL <check> <why>
//! ```

use std::{future::Future, process::ExitCode, time::Duration};

/// What a check saw (`Ok`), or why it failed (`Err`).
pub type Outcome = Result<String, String>;

/// The checks run so far.
#[derive(Debug, Default)]
pub struct Checks {
    failed: usize,
}

impl Checks {
    /// No checks run yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Runs `check`, failing it when it takes longer than `limit`, and prints
    /// its result.
    pub async fn run(&mut self, name: &str, limit: Duration, check: impl Future<Output = Outcome>) {
        let outcome = match tokio::time::timeout(limit, check).await {
            Ok(outcome) => outcome,
            Err(_) => Err(format!("no result within {limit:?}")),
        };
        match outcome {
            Ok(seen) => println!("PASS {name} {}", one_line(&seen)),
            Err(why) => {
                self.failed += 1;
                println!("FAIL {name} {}", one_line(&why));
            }
        }
    }

    /// Success when every check passed.
    pub fn exit_code(&self) -> ExitCode {
        if self.failed == 0 {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        }
    }
}

fn one_line(text: &str) -> String {
    let line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.len() > 400 {
        let cut = (0..=400)
            .rev()
            .find(|&i| line.is_char_boundary(i))
            .unwrap_or(0);
        format!("{}...", &line[..cut])
    } else {
        line
    }
}

/// The text `interop_bigAnswer` answers for `len`: `0x` and `len` hex digits
/// counting up, so that a client can check every byte.
pub fn big_answer(len: usize) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut text = String::with_capacity(2 + len);
    text.push_str("0x");
    text.extend((0..len).map(|i| DIGITS[i % 16] as char));
    text
}
