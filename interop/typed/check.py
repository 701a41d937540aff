"""Calls the `Notes` service of examples/daemon_cli, in its JSON-RPC form,
from Python through jsonrpcclient over the daemon's Unix socket.

Usage: check.py SOCKET_PATH. Exits non-zero, saying what differed, on the
first answer that is not the one expected.
"""

import json
import socket
import sys

from jsonrpcclient import Error, Ok, notification, parse, request


class Connection:
    """JSON values over a Unix socket, one per line each way."""

    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(10)
        self.sock.connect(path)
        self.buffer = b""

    def send(self, message):
        self.sock.sendall(json.dumps(message).encode() + b"\n")

    def receive(self):
        while b"\n" not in self.buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise RuntimeError("the daemon closed the connection")
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\n", 1)
        return json.loads(line)

    def call(self, method, params=None):
        self.send(request(method, params=params))
        return parse(self.receive())


def expect(what, got, want):
    if got != want:
        sys.exit(f"{what}: got {got!r}, want {want!r}")
    print(f"ok: {what}")


def main(path):
    notes = Connection(path)

    expect("put, params by position", notes.call("put", ["todo", "ship it"]), Ok(None, 1))
    expect(
        "put, params by name, replacing",
        notes.call("put", {"name": "todo", "text": "test it"}).result,
        "ship it",
    )
    expect("get", notes.call("get", ["todo"]).result, "test it")

    missing = notes.call("get", {"name": "nope"})
    expect("get, a method error", type(missing), Error)
    expect("its code", missing.code, 404)
    expect("its message", missing.message, 'no note called "nope"')
    expect("its data, the Rust error", missing.data, {"name": "nope"})

    expect("list, optional param left out", notes.call("list").result, ["todo"])
    expect("list, params []", notes.call("list", []).result, ["todo"])
    expect("list, params {}", notes.call("list", {}).result, ["todo"])
    expect("list, optional param given", notes.call("list", ["x"]).result, [])

    unknown = notes.call("sqrt", [2])
    expect("an unknown method", unknown.code, -32601)
    expect("names the service", set(unknown.data), {"service", "version"})
    expect("its name", unknown.data["service"], "Notes")

    bad = notes.call("put", ["only a name"])
    expect("missing params", bad.code, -32602)
    too_many = notes.call("list", ["a", "b"])
    expect("too many params", too_many.code, -32602)

    # A subscription: the id, then a change pushed as a notification.
    watcher = Connection(path)
    subscribed = watcher.call("changes_subscribe")
    expect("changes_subscribe answers an id", type(subscribed), Ok)
    notes.call("put", ["done", "yes"])
    pushed = watcher.receive()
    expect("the pushed method", pushed["method"], "changes")
    expect(
        "the pushed params",
        pushed["params"],
        {"subscription": subscribed.result, "result": "done"},
    )
    unsubscribed = watcher.call("changes_unsubscribe", [subscribed.result])
    expect("changes_unsubscribe", unsubscribed.result, True)

    # A notification: no answer; the daemon stops.
    notes.send(notification("stop"))
    print("ok: sent the stop notification")


if __name__ == "__main__":
    main(sys.argv[1])
