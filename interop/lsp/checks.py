"""The LSP interop checks (see README.md beside this file); `run` calls this.

    checks.py EXAMPLES_DIR CLANGD [PEER...]

PEERs: pygls-server, clangd, pygls-client (all three unless named).

- pygls-server: examples/lsp_client against pygls_server.py;
- clangd: examples/lsp_client against clangd;
- pygls-client: examples/lsp_server driven by pygls's LanguageClient.

Every process gets a time limit and is killed and reaped when it runs over.
Prints a line per check as it goes, then a table, the failures' messages and
`lsp: N passed, N failed`; exits 1 when a check failed.
"""

import asyncio
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from importlib.metadata import version
from pathlib import Path

from lsprotocol import types
from pygls.lsp.client import LanguageClient

HERE = Path(__file__).resolve().parent
SAMPLE = HERE / "sample.c"
# Any process of a check, and any one step of the pygls client.
PROCESS_LIMIT = 60
STEP_LIMIT = 20

results = []  # (peer, check, passed, message)


def record(peer, check, passed, message=""):
    results.append((peer, check, passed, message))
    print(f"  [{peer}] {'PASS' if passed else 'FAIL'} {check}", flush=True)
    if not passed:
        print(f"  [{peer}]   {message}", flush=True)


def utf16(text):
    return len(text.encode("utf-16-le")) // 2


def position(text, offset):
    """The LSP position (UTF-16 units) of the code point offset `offset`."""
    line = text.count("\n", 0, offset)
    start = text.rfind("\n", 0, offset) + 1
    return {"line": line, "character": utf16(text[start:offset])}


def span(text, needle):
    """The LSP range of the first `needle` in `text`."""
    offset = text.index(needle)
    return {"start": position(text, offset), "end": position(text, offset + len(needle))}


def run_lsp_client(examples, workdir, word, server):
    """Runs examples/lsp_client; returns its exit code, its events and stderr."""
    command = [str(examples / "lsp_client"), "sample.c", word, "--", *server]
    try:
        done = subprocess.run(
            command, cwd=workdir, capture_output=True, timeout=PROCESS_LIMIT
        )
    except subprocess.TimeoutExpired as timed_out:  # killed and reaped by run()
        return None, [], f"stopped after {PROCESS_LIMIT} s; {timed_out.stderr or b''!r}"
    events = []
    for line in done.stdout.decode("utf-8").splitlines():
        kind, _, rest = line.partition(" ")
        if kind in ("request", "notification"):
            method, _, params = rest.partition(" ")
            events.append((kind, method, json.loads(params)))
        elif kind in ("server", "documentSymbol", "hover") and not line.startswith("server exited"):
            events.append((kind, None, rest if rest.startswith("error ") else json.loads(rest)))
        else:
            events.append((kind, None, line))
    return done.returncode, events, done.stderr.decode("utf-8", "replace")[-600:]


def first(events, kind, method=None):
    return next((e[2] for e in events if e[0] == kind and e[1] == method), None)


def exited_cleanly(peer, rc, events, stderr):
    """lsp_client exited 0 after reaping the server, which exited 0."""
    lines = [e[2] for e in events if isinstance(e[2], str) and e[2].startswith("server exited")]
    record(
        peer,
        "shutdown",
        rc == 0 and lines == ["server exited: exit status: 0"],
        f"lsp_client exited with {rc}, printed {lines}; its stderr: {stderr.strip()!r}",
    )


# --------------------------------------------------------------------------
# examples/lsp_client against pygls


def check_pygls_server(examples, workdir):
    peer = "pygls-server"
    text = SAMPLE.read_text(encoding="utf-8")
    report_path = workdir / "pygls-report.json"
    rc, events, stderr = run_lsp_client(
        examples, workdir, "after", [sys.executable, str(HERE / "pygls_server.py"), str(report_path)]
    )
    try:
        report = json.loads(report_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        report = {"unreadable": str(err)}

    server = first(events, "server")
    record(peer, "initialize", server == {"name": "interop-pygls", "version": "1"}, f"serverInfo {server}")

    logged = [e[2].get("message") for e in events if e[:2] == ("notification", "window/logMessage")]
    record(
        peer,
        "log_message",
        "interop-pygls: prêt ✓ (ready)" in logged and len(logged) == 3,
        f"window/logMessage printed: {logged}",
    )

    configuration, ping = report.get("configuration", {}), report.get("ping", {})
    asked = [e[1] for e in events if e[0] == "request"]
    record(
        peer,
        "server_requests",
        configuration.get("result") == [None]
        and ping.get("error", {}).get("code") == -32601
        and not configuration.get("timed_out")
        and not ping.get("timed_out")
        and sorted(asked) == ["interop/ping", "workspace/configuration"],
        f"pygls saw: configuration {configuration}, ping {ping}; lsp_client printed requests {asked}",
    )

    line = next(l for l in text.splitlines() if "after" in l)
    hover = first(events, "hover")
    did_open = report.get("did_open", {})
    data = text.encode("utf-8")
    record(
        peer,
        "non_ascii",
        did_open.get("sha256") == hashlib.sha256(data).hexdigest()
        and did_open.get("bytes") == len(data)
        and report.get("hover") == {"word": "after", "line": line}
        and isinstance(hover, dict)
        and hover.get("contents", {}).get("value") == f"`after` in `{line}`",
        f"pygls got the text {did_open}, the hovered word {report.get('hover')}; lsp_client got {hover}",
    )

    symbols = first(events, "documentSymbol")
    number, wide = next((n, l) for n, l in enumerate(text.splitlines()) if not l.isascii())
    whole = {"start": {"line": number, "character": 0}, "end": {"line": number, "character": utf16(wide)}}
    record(
        peer,
        "out_of_order",
        report.get("events")
        == ["documentSymbol asked", "hover asked", "hover answered", "documentSymbol answered"]
        and isinstance(symbols, list)
        and len(symbols) == 1
        and symbols[0].get("name") == wide
        and symbols[0].get("range") == whole,
        f"pygls: {report.get('events')}; lsp_client got {symbols}",
    )
    exited_cleanly(peer, rc, events, stderr)


# --------------------------------------------------------------------------
# examples/lsp_client against clangd


def check_clangd(examples, workdir, clangd):
    peer = "clangd"
    text = SAMPLE.read_text(encoding="utf-8")
    rc, events, stderr = run_lsp_client(examples, workdir, "after", [clangd, "--log=error"])

    server = first(events, "server") or {}
    record(
        peer,
        "initialize",
        server.get("name") == "clangd" and "14.0.6" in server.get("version", ""),
        f"serverInfo {server}",
    )

    uri = (workdir / "sample.c").resolve().as_uri()
    published = [
        e[2] for e in events if e[:2] == ("notification", "textDocument/publishDiagnostics")
    ]
    expected = span(text, "missing")
    got = [(d.get("uri"), [(x.get("range"), x.get("message")) for x in d.get("diagnostics", [])]) for d in published]
    record(
        peer,
        "diagnostics",
        got == [(uri, [(expected, "Use of undeclared identifier 'missing'")])],
        f"expected {expected} in {uri}; got {got}",
    )

    symbols = first(events, "documentSymbol")
    want = {name: span(text, name) for name in ("café", "greeting", "after", "broken")}
    got = {s.get("name"): s.get("selectionRange") for s in symbols} if isinstance(symbols, list) else symbols
    record(peer, "document_symbol", got == want, f"selection ranges: expected {want}; got {got}")

    hover = first(events, "hover")
    value = hover.get("contents", {}).get("value", "") if isinstance(hover, dict) else ""
    expected = span(text, "after")
    record(
        peer,
        "hover",
        "variable `after`" in value and "Type: `int`" in value and hover.get("range") == expected,
        f"expected the variable `after` at {expected}; got {hover}",
    )
    exited_cleanly(peer, rc, events, stderr)


# --------------------------------------------------------------------------
# examples/lsp_server driven by pygls's LanguageClient

WORD = "naïve"
OPENED = "日本🙂 TODO naïve\n🙂🙂 naïve, é naïve\n"
CHANGES = 40


def changed_text(n):
    """The document's text at version `n` (> 1): `n % 5` flagged words."""
    return "é🙂 " + " naïve" * (n % 5) + f"\nversion {n} 日本\n"


async def step(awaitable):
    return await asyncio.wait_for(awaitable, STEP_LIMIT)


async def drive_lsp_server(examples):
    peer = "pygls-client"
    client = LanguageClient("interop-pygls-client", "1")
    configuration_asked = []
    published = []
    arrived = asyncio.Event()

    @client.feature(types.WORKSPACE_CONFIGURATION)
    def configuration(params):
        configuration_asked.append([item.section for item in params.items])
        return [{"word": WORD}]

    @client.feature(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    def diagnostics(params):
        published.append(params)
        arrived.set()

    async def diagnostics_for(version):
        while not any(p.version == version for p in published):
            arrived.clear()
            await step(arrived.wait())
        return next(p for p in published if p.version == version)

    def ranges(params):
        return [
            client.protocol._converter.unstructure(d.range) for d in params.diagnostics
        ]

    def expected(text):
        found, start = [], 0
        while (at := text.find(WORD, start)) >= 0:
            found.append({"start": position(text, at), "end": position(text, at + len(WORD))})
            start = at + len(WORD)
        return found

    await client.start_io(str(examples / "lsp_server"))
    try:
        result = await step(
            client.initialize_async(
                types.InitializeParams(
                    process_id=os.getpid(),
                    capabilities=types.ClientCapabilities(
                        workspace=types.WorkspaceClientCapabilities(configuration=True),
                        text_document=types.TextDocumentClientCapabilities(
                            publish_diagnostics=types.PublishDiagnosticsClientCapabilities(
                                version_support=True
                            )
                        ),
                    ),
                )
            )
        )
        record(
            peer,
            "initialize",
            result.capabilities.hover_provider is True
            and result.capabilities.text_document_sync == types.TextDocumentSyncKind.Full
            and result.server_info.name == "tower-ipc lsp_server",
            f"capabilities {result.capabilities}, serverInfo {result.server_info}",
        )

        client.initialized(types.InitializedParams())
        uri = "file:///interop/naïve%20日本.txt"
        client.text_document_did_open(
            types.DidOpenTextDocumentParams(
                text_document=types.TextDocumentItem(uri=uri, language_id="plaintext", version=1, text=OPENED)
            )
        )
        opened = await diagnostics_for(1)
        record(
            peer,
            "configuration",
            configuration_asked == [["words"]] and len(opened.diagnostics) == OPENED.count(WORD),
            f"workspace/configuration asked for {configuration_asked}; "
            f"{len(opened.diagnostics)} `{WORD}` flagged",
        )
        record(
            peer,
            "diagnostics",
            opened.uri == uri and ranges(opened) == expected(OPENED),
            f"expected {expected(OPENED)}; got {ranges(opened)} for {opened.uri}",
        )

        # The last `naïve`, on the second line: its third letter.
        at = OPENED.rindex(WORD) + 2
        hover = await step(
            client.text_document_hover_async(
                types.HoverParams(
                    text_document=types.TextDocumentIdentifier(uri=uri),
                    position=types.Position(**position(OPENED, at)),
                )
            )
        )
        start = len(OPENED[: OPENED.rindex(WORD)].encode("utf-8"))
        want_value = f"`{WORD}`: bytes {start}..{start + len(WORD.encode('utf-8'))} of the document"
        got_range = client.protocol._converter.unstructure(hover.range) if hover else None
        record(
            peer,
            "hover",
            hover is not None
            and hover.contents.value == want_value
            and got_range == expected(OPENED)[-1],
            f"expected {want_value!r} at {expected(OPENED)[-1]}; got {hover}",
        )

        for n in range(2, CHANGES + 2):
            client.text_document_did_change(
                types.DidChangeTextDocumentParams(
                    text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=n),
                    content_changes=[types.TextDocumentContentChangeWholeDocument(text=changed_text(n))],
                )
            )
        await diagnostics_for(CHANGES + 1)
        versions = [p.version for p in published]
        wrong = [p.version for p in published[1:] if ranges(p) != expected(changed_text(p.version))]
        record(
            peer,
            "ordered_changes",
            versions == list(range(1, CHANGES + 2)) and not wrong,
            f"{CHANGES} didChange: diagnostics came for versions {versions}; wrong ranges for {wrong}",
        )

        await step(client.shutdown_async(None))
        client.exit(None)
        code = await step(client._server.wait())
        record(peer, "shutdown", code == 0, f"lsp_server exited with {code}")
    except Exception as err:  # a step that failed or timed out: the rest are not run
        record(peer, "error", False, f"{type(err).__name__}: {err}")
    finally:
        if client._server is not None and client._server.returncode is None:
            client._server.kill()
            await client._server.wait()
        await asyncio.wait_for(client.stop(), STEP_LIMIT)


# --------------------------------------------------------------------------


def clangd_version(clangd):
    try:
        out = subprocess.run([clangd, "--version"], capture_output=True, timeout=30, text=True)
        found = re.search(r"clangd version (\S+)", out.stdout)
        return found.group(1) if found else out.stdout.strip()
    except OSError as err:
        return f"not runnable ({err})"


def main():
    examples, clangd, *chosen = sys.argv[1:]
    examples = Path(examples).resolve()
    peers = chosen or ["pygls-server", "clangd", "pygls-client"]
    start = time.monotonic()
    versions = f"pygls {version('pygls')}, lsprotocol {version('lsprotocol')}, clangd {clangd_version(clangd)}"
    print(f"==> {versions}; python {sys.version.split()[0]}", flush=True)
    with tempfile.TemporaryDirectory(prefix="tower-ipc-lsp.") as tmp:
        workdir = Path(tmp)
        shutil.copy(SAMPLE, workdir / "sample.c")
        for peer in peers:
            print(f"==> {peer}", flush=True)
            try:
                if peer == "pygls-server":
                    check_pygls_server(examples, workdir)
                elif peer == "clangd":
                    check_clangd(examples, workdir, clangd)
                elif peer == "pygls-client":
                    asyncio.run(drive_lsp_server(examples))
                else:
                    sys.exit(f"lsp: no peer `{peer}` (pygls-server, clangd, pygls-client)")
            except Exception as err:  # the checks' own failure: the peer's rest is not run
                record(peer, "error", False, f"{type(err).__name__}: {err}")

    labels = {
        "pygls-server": "examples/lsp_client -> pygls server",
        "clangd": "examples/lsp_client -> clangd",
        "pygls-client": "pygls LanguageClient -> examples/lsp_server",
    }
    passed = sum(1 for r in results if r[2])
    failed = len(results) - passed
    print()
    print("=" * 70)
    print(f"  tower-ipc LSP interop ({versions})")
    print("=" * 70)
    for peer, check, ok, _ in results:
        print(f"  {labels[peer]:<46} {check:<16} {'pass' if ok else 'FAIL'}")
    if failed:
        print("-" * 70)
        print("  failures:")
        for peer, check, ok, message in results:
            if not ok:
                print(f"  - {labels[peer]}, {check}: {message}")
    print("-" * 70)
    print(f"  wall time: {time.monotonic() - start:.1f} s")
    print(f"lsp: {passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
