"""A language server on pygls for examples/lsp_client to talk to.

    python pygls_server.py REPORT

Serves LSP on its stdio. What it saw and did goes to the JSON file REPORT
when the client asks it to shut down, for checks.py to read:

- on `initialized` it logs to the client (`window/logMessage`, non-ASCII
  text included), then asks the client two things at once and times the
  answers: `workspace/configuration` and a method of its own,
  `interop/ping`, which the client does not know (an error answer is an
  answer: the point is that it comes, rather than this server waiting out
  its own timeout);
- hover answers the word at the position (pygls converts the client's
  UTF-16 position) and the text of its line;
- documentSymbol waits until hover is answered and the requests of
  `initialized` are done, so a client that asks for symbols, then hover,
  gets its answers out of order; its one symbol is the document's first
  line with non-ASCII text, its range in UTF-16 units as pygls computes
  them.
"""

import asyncio
import hashlib
import json
import sys
import time

from lsprotocol import types
from pygls.lsp.server import LanguageServer

# How long the client may take to answer one of this server's requests.
PATIENCE = 5.0

server = LanguageServer("interop-pygls", "1")
report = {"events": []}
hover_answered = asyncio.Event()
asked = asyncio.Event()


def log(message):
    server.window_log_message(
        types.LogMessageParams(type=types.MessageType.Info, message=message)
    )


async def timed(method, request):
    """Sends a request to the client and times its answer."""
    start = time.monotonic()
    outcome = {"method": method}
    try:
        outcome["result"] = server.protocol._converter.unstructure(
            await asyncio.wait_for(request, PATIENCE)
        )
    except asyncio.TimeoutError:
        outcome["timed_out"] = True
    except Exception as err:  # an error answer
        outcome["error"] = {"code": getattr(err, "code", None), "message": str(err)}
    outcome["ms"] = round((time.monotonic() - start) * 1000)
    log(f"{method} answered in {outcome['ms']} ms: {json.dumps(outcome)}")
    return outcome


@server.feature(types.INITIALIZED)
async def initialized(ls, params):
    log("interop-pygls: prêt ✓ (ready)")
    configuration = ls.workspace_configuration_async(
        types.ConfigurationParams(items=[types.ConfigurationItem(section="interop")])
    )
    ping = ls.protocol.send_request_async("interop/ping", {"sent": "ping ✓"})
    report["configuration"], report["ping"] = await asyncio.gather(
        timed("workspace/configuration", configuration), timed("interop/ping", ping)
    )
    asked.set()


@server.feature(types.TEXT_DOCUMENT_DID_OPEN)
def did_open(ls, params):
    text = params.text_document.text
    report["did_open"] = {
        "uri": params.text_document.uri,
        "bytes": len(text.encode("utf-8")),
        "sha256": hashlib.sha256(text.encode("utf-8")).hexdigest(),
    }


@server.feature(types.TEXT_DOCUMENT_HOVER)
def hover(ls, params):
    # A plain function: its answer is written before any other handler
    # runs again, so documentSymbol's comes after it.
    report["events"].append("hover asked")
    document = ls.workspace.get_text_document(params.text_document.uri)
    word = document.word_at_position(params.position)
    line = document.lines[params.position.line].rstrip("\r\n")
    report["hover"] = {"word": word, "line": line}
    hover_answered.set()
    report["events"].append("hover answered")
    return types.Hover(
        contents=types.MarkupContent(
            kind=types.MarkupKind.Markdown, value=f"`{word}` in `{line}`"
        )
    )


@server.feature(types.TEXT_DOCUMENT_DOCUMENT_SYMBOL)
async def document_symbol(ls, params):
    report["events"].append("documentSymbol asked")
    try:
        await asyncio.wait_for(
            asyncio.gather(hover_answered.wait(), asked.wait()), 2 * PATIENCE
        )
    except asyncio.TimeoutError:
        report["events"].append("documentSymbol gave up waiting for hover")
    document = ls.workspace.get_text_document(params.text_document.uri)
    number, line = next(
        (n, line.rstrip("\r\n"))
        for n, line in enumerate(document.lines)
        if not line.isascii()
    )
    end = document.position_codec.position_to_client_units(
        document.lines, types.Position(line=number, character=len(line))
    )
    whole = types.Range(start=types.Position(line=number, character=0), end=end)
    report["events"].append("documentSymbol answered")
    return [
        types.DocumentSymbol(
            name=line, kind=types.SymbolKind.String, range=whole, selection_range=whole
        )
    ]


@server.feature(types.SHUTDOWN)
def shutdown(ls, params):
    with open(sys.argv[1], "w", encoding="utf-8") as out:
        json.dump(report, out, ensure_ascii=False)


if __name__ == "__main__":
    server.start_io()
