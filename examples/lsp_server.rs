//! A tiny language server on stdio: it flags a word wherever it appears in
//! the open documents (`TODO`, unless the editor's settings name another),
//! and says on hover which word is under the cursor and where it is.
//!
//! ```text
//! cargo build --example lsp_server     # then point an editor at target/debug/examples/lsp_server
//! ```
//!
//! The crate does the protocol's work: the JSON codec's `Content-Length`
//! framing is LSP's base protocol, a [`Router`] answers the editor's
//! requests, the handlers call and notify the editor through their
//! [`Context`] (`workspace/configuration`, `textDocument/publishDiagnostics`),
//! and [`JsonRpc::ordered_notifications`] handles the editor's
//! notifications one at a time, in the order sent, as LSP requires of
//! `didOpen` and `didChange`. What is left here is LSP itself: documents
//! synced whole (`textDocumentSync: 1`), and positions in UTF-16 code units.

use std::{
    collections::HashMap,
    process::ExitCode,
    sync::{Arc, Mutex},
};

use serde_json::{Value, json};
use tokio::sync::Notify;
use tower_ipc::{
    Server,
    codec::{JsonCodec, JsonFraming},
    jsonrpc::{CallContext, ErrorObject, JsonRpc, Router},
    transport::PipeStream,
};

/// What the server knows: the word to flag, the open documents' text, and
/// whether the editor asked it to shut down.
struct State {
    word: String,
    documents: HashMap<String, String>,
    shut_down: bool,
}

type Shared = Arc<Mutex<State>>;

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let state = Arc::new(Mutex::new(State {
        word: "TODO".into(),
        documents: HashMap::new(),
        shut_down: false,
    }));
    let exit = Arc::new(Notify::new());
    let protocol = JsonRpc::new()
        .codec(JsonCodec::new().framing(JsonFraming::ContentLength))
        .ordered_notifications(true);
    let stdio = match PipeStream::stdio() {
        Ok(stdio) => stdio,
        Err(err) => {
            eprintln!("error: {err}");
            return ExitCode::FAILURE;
        }
    };
    let serving = Server::new().serve_connection(stdio, protocol, router(&state, &exit));
    tokio::select! {
        served = serving => if let Err(err) = served {
            eprintln!("error: {err}");
        },
        () = exit.notified() => {}
    }
    // LSP: exit with 0 only when `shutdown` came first.
    if state.lock().unwrap().shut_down {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn router(state: &Shared, exit: &Arc<Notify>) -> Router {
    let (configured, opened, changed, hovered, shut) = (
        state.clone(),
        state.clone(),
        state.clone(),
        state.clone(),
        state.clone(),
    );
    let exit = exit.clone();
    Router::new()
        .method("initialize", |_: Value| async move {
            let version = env!("CARGO_PKG_VERSION");
            Ok::<_, ErrorObject>(json!({
                "capabilities": { "textDocumentSync": 1, "hoverProvider": true },
                "serverInfo": { "name": "tower-ipc lsp_server", "version": version },
            }))
        })
        // The editor's settings, asked for once it is ready.
        .method("initialized", move |cx: CallContext, _: Value| {
            let state = configured.clone();
            async move {
                let asked = json!({ "items": [{ "section": "words" }] });
                let settings: Vec<Value> = cx
                    .peer()
                    .call("workspace/configuration", asked)
                    .await
                    .map_err(ErrorObject::internal_error)?;
                if let Some(word) = settings.first().and_then(|words| words["word"].as_str()) {
                    state.lock().unwrap().word = word.to_owned();
                }
                Ok::<_, ErrorObject>(())
            }
        })
        .method(
            "textDocument/didOpen",
            move |cx: CallContext, params: Value| {
                let document = &params["textDocument"];
                let text = document["text"].as_str().unwrap_or_default();
                let found = opened.lock().unwrap().update(&document["uri"], text);
                publish(cx, document.clone(), found)
            },
        )
        .method(
            "textDocument/didChange",
            move |cx: CallContext, params: Value| {
                // Synced whole: the last change holds the whole text.
                let changes = params["contentChanges"].as_array();
                let text = changes.and_then(|all| all.last()?["text"].as_str());
                let text = text.unwrap_or_default();
                let document = &params["textDocument"];
                let found = changed.lock().unwrap().update(&document["uri"], text);
                publish(cx, document.clone(), found)
            },
        )
        .method("textDocument/hover", move |params: Value| {
            let uri = params["textDocument"]["uri"].as_str().unwrap_or_default();
            let state = hovered.lock().unwrap();
            let text = state.documents.get(uri);
            let answer = text.and_then(|text| hover(text, &params["position"]));
            async move { Ok::<_, ErrorObject>(answer) }
        })
        .method("shutdown", move |(): ()| {
            shut.lock().unwrap().shut_down = true;
            async move { Ok::<_, ErrorObject>(()) }
        })
        .method("exit", move |(): ()| {
            exit.notify_one();
            async move { Ok::<_, ErrorObject>(()) }
        })
}

impl State {
    /// Keeps `text` as the document `uri`'s; returns the ranges of the word in it.
    fn update(&mut self, uri: &Value, text: &str) -> Vec<Value> {
        let found = text
            .match_indices(self.word.as_str())
            .map(|(at, word)| range(text, at, at + word.len()))
            .collect();
        let uri = uri.as_str().unwrap_or_default().to_owned();
        self.documents.insert(uri, text.to_owned());
        found
    }
}

/// Tells the editor where the word is in this version of the document.
async fn publish(cx: CallContext, document: Value, found: Vec<Value>) -> Result<(), ErrorObject> {
    let diagnostics: Vec<Value> = found
        .into_iter()
        .map(|range| json!({ "range": range, "severity": 2, "message": "flagged word" }))
        .collect();
    let (uri, version) = (&document["uri"], &document["version"]);
    let params = json!({ "uri": uri, "version": version, "diagnostics": diagnostics });
    cx.peer()
        .notify("textDocument/publishDiagnostics", params)
        .await
        .map_err(ErrorObject::internal_error)
}

/// The word at `position`, with its byte offsets and its range.
fn hover(text: &str, position: &Value) -> Option<Value> {
    let at = offset(text, position)?;
    let in_word = |c: char| c.is_alphanumeric() || c == '_';
    let start = text[..at]
        .char_indices()
        .rev()
        .take_while(|&(_, c)| in_word(c))
        .last()
        .map_or(at, |(i, _)| i);
    let end = text[at..]
        .char_indices()
        .find(|&(_, c)| !in_word(c))
        .map_or(text.len(), |(i, _)| at + i);
    if start == end {
        return None;
    }
    let value = format!(
        "`{}`: bytes {start}..{end} of the document",
        &text[start..end]
    );
    let contents = json!({ "kind": "markdown", "value": value });
    Some(json!({ "contents": contents, "range": range(text, start, end) }))
}

/// The LSP range of the bytes `start..end` of `text`.
fn range(text: &str, start: usize, end: usize) -> Value {
    json!({ "start": position(text, start), "end": position(text, end) })
}

/// An LSP position: the line, and the UTF-16 code units before `offset` on it.
fn position(text: &str, offset: usize) -> Value {
    let before = &text[..offset];
    let line_start = before.rfind('\n').map_or(0, |newline| newline + 1);
    let line = before.matches('\n').count();
    json!({ "line": line, "character": before[line_start..].encode_utf16().count() })
}

/// The byte offset of an LSP position in `text` (past the end of its line
/// is the end of the line).
fn offset(text: &str, position: &Value) -> Option<usize> {
    let line = usize::try_from(position["line"].as_u64()?).ok()?;
    let mut units = usize::try_from(position["character"].as_u64()?).ok()?;
    let line_start = match line {
        0 => 0,
        n => text.match_indices('\n').nth(n - 1)?.0 + 1,
    };
    for (i, c) in text[line_start..].char_indices() {
        if units == 0 || c == '\n' {
            return Some(line_start + i);
        }
        units = units.saturating_sub(c.len_utf16());
    }
    Some(text.len())
}
