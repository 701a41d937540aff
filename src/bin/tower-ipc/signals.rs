//! Ctrl-C (and, on Unix, SIGTERM), listened for from the moment of asking.
//!
//! `tokio::signal::ctrl_c()` installs its handler when first polled; a
//! signal that comes before that is lost, or kills the process. A script
//! that interrupts `serve --demo` as soon as it prints where it listens
//! must find the handler in place, so it is installed here, eagerly.

#[cfg(unix)]
use tokio::signal::unix::{Signal, SignalKind, signal};
#[cfg(windows)]
use tokio::signal::windows::{CtrlC, ctrl_c};

/// The stop signals a command listens for.
#[derive(Debug)]
pub(crate) struct Signals {
    #[cfg(unix)]
    interrupt: Option<Signal>,
    #[cfg(unix)]
    terminate: Option<Signal>,
    #[cfg(windows)]
    interrupt: Option<CtrlC>,
}

impl Signals {
    /// Installs the handlers now. One that cannot be installed is left out:
    /// that signal then ends the process the default way.
    pub(crate) fn new() -> Self {
        Self {
            #[cfg(unix)]
            interrupt: signal(SignalKind::interrupt()).ok(),
            #[cfg(unix)]
            terminate: signal(SignalKind::terminate()).ok(),
            #[cfg(windows)]
            interrupt: ctrl_c().ok(),
        }
    }

    /// The next signal: Ctrl-C, or on Unix SIGTERM (what `kill` and service
    /// managers send).
    pub(crate) async fn recv(&mut self) {
        #[cfg(unix)]
        let terminated = async {
            match &mut self.terminate {
                Some(terminate) => {
                    terminate.recv().await;
                }
                None => std::future::pending().await,
            }
        };
        #[cfg(not(unix))]
        let terminated = std::future::pending::<()>();
        let interrupted = async {
            match &mut self.interrupt {
                Some(interrupt) => {
                    interrupt.recv().await;
                }
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = interrupted => {}
            () = terminated => {}
        }
    }
}
