//! A progress bar on stderr, for people only: indicatif hides it when
//! stderr is not a terminal (a log or a test would fill with redraws).

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// `done` out of `total`, redrawn in place as calls complete.
#[derive(Clone, Debug)]
pub(crate) struct Progress(ProgressBar);

impl Progress {
    pub(crate) fn start(total: u64) -> Self {
        Self::drawn_on(ProgressDrawTarget::stderr(), total)
    }

    fn drawn_on(target: ProgressDrawTarget, total: u64) -> Self {
        let bar = ProgressBar::with_draw_target(Some(total), target).with_style(style(total));
        Self(bar)
    }

    /// One more call done.
    pub(crate) fn inc(&self) {
        self.0.inc(1);
    }

    /// Stops drawing and clears the line.
    pub(crate) fn finish(&self) {
        self.0.finish_and_clear();
    }
}

/// `[#########.....................]   300/1000  30%`
fn style(total: u64) -> ProgressStyle {
    let width = total.to_string().len();
    let template = format!("[{{bar:30}}] {{pos:>{width}}}/{{len}} {{percent:>3}}%");
    ProgressStyle::with_template(&template)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("#.")
}

#[cfg(test)]
mod tests {
    use std::{
        io,
        sync::{Arc, Mutex},
    };

    use indicatif::TermLike;

    use super::*;

    /// A terminal that keeps the line last drawn.
    #[derive(Clone, Debug, Default)]
    struct Screen(Arc<Mutex<String>>);

    impl TermLike for Screen {
        fn width(&self) -> u16 {
            80
        }
        fn move_cursor_up(&self, _: usize) -> io::Result<()> {
            Ok(())
        }
        fn move_cursor_down(&self, _: usize) -> io::Result<()> {
            Ok(())
        }
        fn move_cursor_right(&self, _: usize) -> io::Result<()> {
            Ok(())
        }
        fn move_cursor_left(&self, _: usize) -> io::Result<()> {
            Ok(())
        }
        fn write_line(&self, line: &str) -> io::Result<()> {
            self.write_str(line)
        }
        fn write_str(&self, text: &str) -> io::Result<()> {
            self.0.lock().unwrap().push_str(text);
            Ok(())
        }
        fn clear_line(&self) -> io::Result<()> {
            self.0.lock().unwrap().clear();
            Ok(())
        }
        fn flush(&self) -> io::Result<()> {
            Ok(())
        }
    }

    /// The bar after `done` of `total` calls.
    fn bar(done: u64, total: u64) -> String {
        let screen = Screen::default();
        let target = ProgressDrawTarget::term_like(Box::new(screen.clone()));
        let progress = Progress::drawn_on(target, total);
        for _ in 0..done {
            progress.inc();
        }
        progress.0.tick();
        // Drawn padded to the terminal's width.
        screen.0.lock().unwrap().trim_end().to_owned()
    }

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
        assert!(
            bar(7, 5).starts_with(&format!("[{}] ", "#".repeat(30))),
            "{}",
            bar(7, 5)
        );
        assert!(bar(7, 5).ends_with("100%"), "{}", bar(7, 5));
    }
}
