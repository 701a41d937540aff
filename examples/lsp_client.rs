//! A language client: starts a language server on its stdio, opens a file,
//! asks the server for the file's symbols and what it knows of a word (two
//! requests at once), prints everything the server sends of its own accord,
//! then shuts the server down and reaps it.
//!
//! ```text
//! cargo run --example lsp_client -- FILE WORD -- SERVER [ARGS...]
//! cargo run --example lsp_client -- hello.c main -- clangd
//! cargo run --example lsp_client -- src/lib.rs serve -- rust-analyzer
//! ```
//!
//! The crate does the protocol's work: the JSON codec's `Content-Length`
//! framing is LSP's base protocol (lengths count bytes, so any text
//! crosses), the client matches answers that come in any order, and the
//! server's own requests are answered by a [`Router`] given to the client
//! (anything it does not route is answered "method not found" at once, so
//! the server never waits on us). What is left here is LSP itself:
//! positions count UTF-16 code units, as LSP has it unless both sides agree
//! otherwise.
//!
//! It prints one line per event: `server`, `request METHOD PARAMS` and
//! `notification METHOD PARAMS` (the server's), `documentSymbol RESULT`,
//! `hover RESULT` (or `METHOD error CODE MESSAGE`), `server exited: STATUS`.

use std::{error::Error, fmt::Write, path::Path, process::ExitCode, time::Duration};

use serde_json::{Value, json};
use tokio::{process::Command, sync::mpsc, time::timeout};
use tower::ServiceExt;
use tower_ipc::{
    codec::{JsonCodec, JsonFraming},
    jsonrpc::{Call, CallError, ErrorObject, JsonRpcClient, Router},
    transport::child,
};

const USAGE: &str = "usage: lsp_client FILE WORD -- SERVER [ARGS...]";

/// How long the server may take to exit after `exit`.
const PATIENCE: Duration = Duration::from_secs(30);

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), Box<dyn Error + Send + Sync>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [file, word, dashes, server, server_args @ ..] = &args[..] else {
        return Err(USAGE.into());
    };
    if dashes != "--" {
        return Err(USAGE.into());
    }
    let path = std::path::absolute(file)?;
    let text =
        std::fs::read_to_string(&path).map_err(|err| format!("cannot read {file}: {err}"))?;
    let offset = text
        .find(word.as_str())
        .ok_or(format!("`{word}` is not in {file}"))?;
    let uri = file_uri(&path);

    let mut command = Command::new(server);
    command.args(server_args).kill_on_drop(true);
    let (io, mut process) =
        child::spawn(&mut command).map_err(|err| format!("cannot start {server}: {err}"))?;

    // The server's own calls: what it asks is answered by the router, and
    // everything it sends is printed by one task, which ends when the
    // client lets go of this service (once the server's output has ended),
    // so nothing the server sent is left unprinted.
    let answers = Router::new().method("workspace/configuration", |params: Value| async move {
        // No settings of our own: `null` for each item asked about.
        let items = params["items"].as_array().map_or(0, Vec::len);
        Ok::<_, ErrorObject>(vec![Value::Null; items])
    });
    let (events, mut printed) = mpsc::unbounded_channel::<String>();
    let editor = tower::service_fn(move |call: Call| {
        let kind = if call.is_notification() {
            "notification"
        } else {
            "request"
        };
        let params = call.params().as_json().unwrap_or("null").to_owned();
        let _ = events.send(format!("{kind} {} {params}", call.method()));
        answers.clone().oneshot(call)
    });
    let printer = tokio::spawn(async move {
        while let Some(event) = printed.recv().await {
            println!("{event}");
        }
    });

    let client = JsonRpcClient::builder()
        .codec(JsonCodec::new().framing(JsonFraming::ContentLength))
        .serve(editor)
        .build(io);
    let root = file_uri(path.parent().unwrap_or(&path));
    let initialized: Value = client
        .call(
            "initialize",
            json!({
                "processId": std::process::id(),
                "clientInfo": { "name": "tower-ipc lsp_client" },
                "rootUri": root,
                "workspaceFolders": [{ "uri": root, "name": "root" }],
                "capabilities": {
                    "general": { "positionEncodings": ["utf-16"] },
                    "workspace": { "configuration": true },
                    "textDocument": {
                        "hover": { "contentFormat": ["markdown", "plaintext"] },
                        "documentSymbol": { "hierarchicalDocumentSymbolSupport": true },
                        "publishDiagnostics": { "versionSupport": true },
                    },
                },
            }),
        )
        .await?;
    println!("server {}", initialized["serverInfo"]);
    client.notify("initialized", json!({})).await?;
    let document = json!({ "uri": uri, "languageId": language(&path), "version": 1, "text": text });
    client
        .notify("textDocument/didOpen", json!({ "textDocument": document }))
        .await?;

    // Two requests at once, in this order; the answers come in whichever
    // order the server sends them, each to its own caller.
    let document = json!({ "uri": uri });
    let at_word = json!({ "textDocument": document, "position": position(&text, offset) });
    let (symbols, hover) = tokio::join!(
        client.call::<Value, _>(
            "textDocument/documentSymbol",
            json!({ "textDocument": document })
        ),
        client.call::<Value, _>("textDocument/hover", at_word),
    );
    print_answer("documentSymbol", symbols)?;
    print_answer("hover", hover)?;

    client.call::<Value, _>("shutdown", ()).await?;
    client.notify("exit", ()).await?;
    drop(client); // closes the server's stdin
    let status = match timeout(PATIENCE, process.wait()).await {
        Ok(status) => status?,
        Err(_) => {
            process.kill().await?;
            return Err(format!("{server} did not exit within {PATIENCE:?} of `exit`").into());
        }
    };
    // The client hands over what the server sent before it exited, then
    // lets go of the router, which ends the printer.
    timeout(PATIENCE, printer)
        .await
        .map_err(|_| "the client kept its service after the server exited")??;
    println!("server exited: {status}");
    if !status.success() {
        return Err(format!("{server} exited with {status}").into());
    }
    Ok(())
}

/// Prints an answer, or the server's error answer (a server need not
/// support every request); fails only when no answer came.
fn print_answer(method: &str, answer: Result<Value, CallError>) -> Result<(), CallError> {
    match answer {
        Ok(result) => println!("{method} {result}"),
        Err(CallError::Rpc(err)) => println!("{method} error {} {}", err.code(), err.message()),
        Err(err) => return Err(err),
    }
    Ok(())
}

/// An LSP position: the line, and the UTF-16 code units before `offset` on it.
fn position(text: &str, offset: usize) -> Value {
    let before = &text[..offset];
    let line_start = before.rfind('\n').map_or(0, |newline| newline + 1);
    let line = before.matches('\n').count();
    json!({ "line": line, "character": before[line_start..].encode_utf16().count() })
}

/// `file://` and the absolute path, its bytes percent-encoded where a URI needs it.
fn file_uri(path: &Path) -> String {
    let path = path.to_string_lossy().replace('\\', "/");
    let mut uri = String::from(if path.starts_with('/') {
        "file://"
    } else {
        "file:///"
    });
    for byte in path.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => {
                uri.push(char::from(byte));
            }
            _ => write!(uri, "%{byte:02X}").expect("writing to a String"),
        }
    }
    uri
}

/// The language id of the file, from its extension.
fn language(path: &Path) -> &str {
    match path.extension().and_then(|ext| ext.to_str()) {
        Some("rs") => "rust",
        Some("py") => "python",
        Some(ext) => ext,
        None => "plaintext",
    }
}
