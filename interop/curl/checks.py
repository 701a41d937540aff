"""curl against the interop suite's server over HTTP: `python checks.py HOST:PORT`.

Every request is a `curl` process, as a person or a shell script would send
it (`curl -s -H 'Content-Type: application/json' -d BODY URL`); Python only
compares what curl printed. Prints one line per check in the form
interop/run reads (`PASS <check> ...` or `FAIL <check> <why>`) and exits 1
when a check failed.
"""

import json
import subprocess
import sys

LIMIT = 20
BIG = 4 * 1024 * 1024
MARK = "\n-- status "


def curl(url, body=None, content_type="application/json", method=None):
    """Status, and the body as text, of one request."""
    command = ["curl", "-sS", "--max-time", str(LIMIT), "-w", MARK + "%{http_code}", url]
    if body is not None:
        command += ["--data-binary", "@-"]
        if content_type:
            command += ["-H", f"Content-Type: {content_type}"]
    if method:
        command += ["-X", method]
    done = subprocess.run(command, input=(body or "").encode(), capture_output=True, check=False)
    if done.returncode != 0:
        raise AssertionError(f"curl exited {done.returncode}: {done.stderr.decode().strip()}")
    text = done.stdout.decode()
    answer, _, status = text.rpartition(MARK)
    return int(status), answer


def call(url, method, params):
    status, answer = curl(url, json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}))
    if status != 200:
        raise AssertionError(f"{method}: HTTP {status}: {answer[:200]}")
    return json.loads(answer)


def result(url, method, params=()):
    answer = call(url, method, list(params))
    if "result" not in answer:
        raise AssertionError(f"{method}: {answer}")
    return answer["result"]


def startup(url):
    chain_id = result(url, "eth_chainId")
    block = result(url, "eth_blockNumber")
    net = result(url, "net_version")
    version = result(url, "web3_clientVersion")
    if chain_id != "0x539" or net != "1337" or not version.startswith("tower-ipc-interop/"):
        raise AssertionError(f"chain id {chain_id}, net_version {net}, client {version}")
    return f"chain id {chain_id}, block {block}, net_version {net}, {version}"


def big_answer(url):
    answer = result(url, "interop_bigAnswer", [BIG])
    expected = "0x" + ("0123456789abcdef" * (BIG // 16 + 1))[:BIG]
    if answer != expected:
        raise AssertionError(f"{len(answer)} bytes answered, not the {BIG + 2} expected")
    return f"a {len(answer)} byte string"


def unknown_method(url):
    answer = call(url, "interop_noSuchMethod", [])
    code = answer.get("error", {}).get("code")
    if code != -32601:
        raise AssertionError(f"not a -32601 error: {answer}")
    return f"error {code}: {answer['error'].get('message')}"


def http_conventions(url):
    seen = []
    status, body = curl(url, '{"jsonrpc":"2.0","method":"eth_chainId","params":[]}')
    if (status, body) != (204, ""):
        raise AssertionError(f"a notification: HTTP {status} {body!r}, not 204 and no body")
    seen.append("notification 204")
    status, body = curl(url, '[{"jsonrpc":"2.0","id":1,"method":"eth_chainId"},{"jsonrpc":"2.0","id":2,"method":"net_version"}]')
    answers = json.loads(body)
    if status != 200 or [a.get("result") for a in answers] != ["0x539", "1337"]:
        raise AssertionError(f"a batch: HTTP {status} {body!r}")
    seen.append("batch 200")
    status, body = curl(url, '{"jsonrpc":"2.0","id":1,')
    if status != 200 or json.loads(body)["error"]["code"] != -32700:
        raise AssertionError(f"a body that is not JSON: HTTP {status} {body!r}")
    seen.append("parse error -32700")
    status, body = curl(url, '{"jsonrpc":"2.0","id":1,"method":"eth_chainId"}', content_type="text/plain")
    if status != 415 or "text/plain" not in json.loads(body)["error"]["message"]:
        raise AssertionError(f"Content-Type text/plain: HTTP {status} {body!r}")
    seen.append("text/plain 415")
    status, body = curl(url, '{"jsonrpc":"2.0","id":1,"method":"eth_subscribe","params":["newHeads"]}')
    error = json.loads(body).get("error", {})
    if status != 200 or error.get("code") != -32601 or "WebSocket" not in error.get("message", ""):
        raise AssertionError(f"eth_subscribe over HTTP: HTTP {status} {body!r}")
    seen.append("eth_subscribe -32601")
    status, body = curl(url)
    if (status, body) != (200, ""):
        raise AssertionError(f"GET (a health check): HTTP {status} {body!r}")
    seen.append("GET 200")
    status, body = curl(url, "", method="DELETE")
    if status != 405:
        raise AssertionError(f"DELETE: HTTP {status} {body!r}")
    seen.append("DELETE 405")
    return ", ".join(seen)


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    url = f"http://{sys.argv[1]}/"
    passed = True
    for check in (startup, big_answer, unknown_method, http_conventions):
        try:
            print(f"PASS {check.__name__} {check(url)}", flush=True)
        except Exception as error:  # noqa: BLE001 - every failure is reported
            text = " ".join(str(error).split()) or repr(error)
            print(f"FAIL {check.__name__} {text[:400]}", flush=True)
            passed = False
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
