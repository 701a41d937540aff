//! The one trait the daemon and the CLI share. In a real project it lives
//! in a small crate both depend on; a change to it is a compile error on
//! both sides.

use std::{
    collections::BTreeMap,
    fmt,
    sync::{Arc, Mutex},
};

use futures::{StreamExt, stream::BoxStream};
use serde::{Deserialize, Serialize};
use tokio::sync::{Notify, broadcast};
use tower_ipc::service::MethodError;

/// Notes kept by the daemon, by name.
#[tower_ipc::service]
pub(crate) trait Notes {
    /// Stores `text` under `name`; answers the text it replaces, if any.
    async fn put(&self, name: String, text: String) -> Option<String>;

    /// The note called `name`.
    async fn get(&self, name: String) -> Result<String, NoSuchNote>;

    /// The names of the notes, those starting with `prefix` if one is given.
    async fn list(&self, prefix: Option<String>) -> Vec<String>;

    /// Asks the daemon to stop once it has answered what it is answering.
    #[rpc(notification)]
    async fn stop(&self);

    /// Every change from now on: the name of each note stored.
    #[rpc(subscription)]
    async fn changes(&self) -> BoxStream<'static, String>;
}

/// `get` found no note of that name.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct NoSuchNote {
    /// The name asked for.
    pub(crate) name: String,
}

impl fmt::Display for NoSuchNote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "no note called {:?}", self.name)
    }
}

impl MethodError for NoSuchNote {
    fn code(&self) -> i64 {
        404
    }
}

/// The daemon's side: the notes in memory.
pub(crate) struct Daemon {
    notes: Mutex<BTreeMap<String, String>>,
    changes: broadcast::Sender<String>,
    stop: Arc<Notify>,
}

impl Daemon {
    /// An empty store; `stop` is notified when a client asks the daemon to
    /// stop.
    pub(crate) fn new(stop: Arc<Notify>) -> Self {
        Self {
            notes: Mutex::default(),
            changes: broadcast::Sender::new(64),
            stop,
        }
    }
}

impl Notes for Daemon {
    async fn put(&self, name: String, text: String) -> Option<String> {
        let previous = self.notes.lock().unwrap().insert(name.clone(), text);
        let _ = self.changes.send(name);
        previous
    }

    async fn get(&self, name: String) -> Result<String, NoSuchNote> {
        let text = self.notes.lock().unwrap().get(&name).cloned();
        text.ok_or(NoSuchNote { name })
    }

    async fn list(&self, prefix: Option<String>) -> Vec<String> {
        let prefix = prefix.unwrap_or_default();
        let notes = self.notes.lock().unwrap();
        notes
            .keys()
            .filter(|name| name.starts_with(&prefix))
            .cloned()
            .collect()
    }

    async fn stop(&self) {
        self.stop.notify_one();
    }

    async fn changes(&self) -> BoxStream<'static, String> {
        let changes = self.changes.subscribe();
        futures::stream::unfold(changes, |mut changes| async move {
            loop {
                match changes.recv().await {
                    Ok(name) => return Some((name, changes)),
                    Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => return None,
                }
            }
        })
        .boxed()
    }
}
