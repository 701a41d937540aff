//! A progress bar on stderr, redrawn in place with `\r`, for people only.

use std::{
    io::{IsTerminal, Write},
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use tokio::task::JoinHandle;

const WIDTH: usize = 30;
const REDRAW_EVERY: Duration = Duration::from_millis(100);

/// Redraws `done` out of `total` until [`finish`](Self::finish)ed; does
/// nothing when stderr is not a terminal (a log or a test would fill with
/// redraws).
pub(crate) struct Progress {
    drawing: Option<JoinHandle<()>>,
}

impl Progress {
    pub(crate) fn start(total: u64, done: Arc<AtomicU64>) -> Self {
        if !std::io::stderr().is_terminal() {
            return Self { drawing: None };
        }
        let drawing = tokio::spawn(async move {
            let mut tick = tokio::time::interval(REDRAW_EVERY);
            loop {
                tick.tick().await;
                let line = bar(done.load(Ordering::Relaxed), total);
                let mut stderr = std::io::stderr().lock();
                let _ = write!(stderr, "\r{line}");
                let _ = stderr.flush();
            }
        });
        Self {
            drawing: Some(drawing),
        }
    }

    /// Stops drawing and clears the line.
    pub(crate) fn finish(self) {
        if let Some(drawing) = self.drawing {
            drawing.abort();
            let mut stderr = std::io::stderr().lock();
            let _ = write!(stderr, "\r{}\r", " ".repeat(WIDTH + 40));
            let _ = stderr.flush();
        }
    }
}

/// `[#########.....................]   300/1000  30%`
fn bar(done: u64, total: u64) -> String {
    let done = done.min(total);
    let filled = if total == 0 {
        WIDTH
    } else {
        (done as u128 * WIDTH as u128 / total as u128) as usize
    };
    let percent = if total == 0 {
        100
    } else {
        done as u128 * 100 / total as u128
    };
    format!(
        "[{}{}] {done:>width$}/{total} {percent:>3}%",
        "#".repeat(filled),
        ".".repeat(WIDTH - filled),
        width = total.to_string().len(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bar_fills_in_proportion() {
        assert_eq!(bar(0, 1000), format!("[{}]    0/1000   0%", ".".repeat(30)));
        assert_eq!(
            bar(300, 1000),
            format!("[{}{}]  300/1000  30%", "#".repeat(9), ".".repeat(21))
        );
        assert_eq!(
            bar(1000, 1000),
            format!("[{}] 1000/1000 100%", "#".repeat(30))
        );
        // Never past full.
        assert_eq!(bar(7, 5), format!("[{}] 5/5 100%", "#".repeat(30)));
    }
}
