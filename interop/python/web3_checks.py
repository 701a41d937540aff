"""web3.py against the interop suite's geth-compatible server.

    python web3_checks.py sync SOCKET    # IPCProvider
    python web3_checks.py async SOCKET   # AsyncIPCProvider
    python web3_checks.py http HOST:PORT # HTTPProvider (the sync checks)
    python web3_checks.py ws HOST:PORT   # WebSocketProvider (the async checks)

Prints one line per check in the form interop/run reads (`PASS <check> ...`
or `FAIL <check> <why>`) and exits 1 when a check failed.

web3.py sends `"params": []` for parameterless calls. The sync IPCProvider
sends one request at a time (a lock around each round trip) and has no
subscriptions; the async provider keeps one connection, reads answers line
by line, and subscribes. The suite's own methods are attached to `w3.eth`
as web3.py's docs show for custom methods (`attach_methods`): the async
provider raises an error answer to a request it has no record of (one sent
with `w3.manager.coro_request` or `w3.provider.make_request`) a second time,
from its listener task, when the connection closes.
"""

import asyncio
import concurrent.futures
import os
import sys
import traceback

from web3 import AsyncIPCProvider, AsyncWeb3, HTTPProvider, IPCProvider, Web3, WebSocketProvider
from web3.exceptions import Web3RPCError
from web3.method import Method, default_root_munger

LIMIT = 20.0
BIG = 4 * 1024 * 1024
CALLS = 64


def attach(web3):
    """The suite's methods, as `web3.eth.interop_*`."""
    web3.eth.attach_methods({
        name: Method(name, mungers=[default_root_munger])
        for name in ("interop_echoAfter", "interop_bigAnswer", "interop_noSuchMethod")
    })
    return web3


def big_answer(length):
    """What `interop_bigAnswer [length]` answers: `0x` and hex digits counting up."""
    return "0x" + ("0123456789abcdef" * (length // 16 + 1))[:length]


def echo_calls(delays=True):
    """Values to echo, and delays that make the answers come in reverse order."""
    return [({"call": i, "text": f"call {i}"}, 2 * (CALLS - i) if delays else 0) for i in range(CALLS)]


def plain(value):
    """web3.py hands back AttributeDicts: compare them as plain data."""
    if hasattr(value, "items"):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def mismatches(calls, answers):
    wrong = [i for i, ((sent, _), answer) in enumerate(zip(calls, answers)) if plain(answer) != sent]
    if not wrong:
        return None
    i = wrong[0]
    return f"{len(wrong)} of {len(calls)} calls wrong, first: call {i} sent {calls[i][0]}, answered {answers[i]}"


def named(method, call):
    """Runs `call`, naming `method` in its error."""
    try:
        return call()
    except Exception as error:
        raise AssertionError(f"{method}: {type(error).__name__}: {error}") from error


async def anamed(method, call):
    try:
        return await call
    except Exception as error:
        raise AssertionError(f"{method}: {type(error).__name__}: {error}") from error


def check_startup(chain_id, block, net, version):
    if chain_id != 1337 or net != "1337" or not version.startswith("tower-ipc-interop/"):
        raise AssertionError(f"chain id {chain_id}, net_version {net}, client {version}")
    return f"chain id {chain_id}, block {block}, net_version {net}, {version}"


def check_unknown(error):
    code = (error.rpc_response or {}).get("error", {}).get("code")
    if code != -32601:
        raise AssertionError(f"not a -32601 error: {error!r}")
    return f"error {code}: {error.rpc_response['error'].get('message')}"


def report(name, outcome, error):
    if error is None:
        print(f"PASS {name} {outcome}", flush=True)
        return True
    text = " ".join(str(error).split()) or repr(error)
    if not isinstance(error, AssertionError):
        text = f"{type(error).__name__}: {text}"
    print(f"FAIL {name} {text[:400]}", flush=True)
    return False


# The sync provider.

def sync_checks(make_provider):
    def w3():
        return attach(Web3(make_provider()))

    def startup():
        web3 = w3()
        return check_startup(named("eth_chainId", lambda: web3.eth.chain_id),
                             named("eth_blockNumber", lambda: web3.eth.block_number),
                             named("net_version", lambda: web3.net.version),
                             named("web3_clientVersion", lambda: web3.client_version))

    def concurrent_calls():
        # One provider shared by threads, as an application would; it sends
        # one request at a time, so the delays would only add up.
        web3 = w3()
        calls = echo_calls(delays=False)
        with concurrent.futures.ThreadPoolExecutor(16) as pool:
            answers = list(pool.map(lambda c: web3.eth.interop_echoAfter(*c), calls))
        wrong = mismatches(calls, answers)
        if wrong:
            raise AssertionError(wrong)
        return f"{CALLS} calls from 16 threads, each matched"

    def big():
        answer = w3().eth.interop_bigAnswer(BIG)
        if answer != big_answer(BIG):
            raise AssertionError(f"{len(answer)} bytes answered, not the {BIG + 2} expected")
        return f"a {len(answer)} byte string"

    def unknown():
        try:
            answer = w3().eth.interop_noSuchMethod()
        except Web3RPCError as error:
            return check_unknown(error)
        raise AssertionError(f"answered {answer!r}")

    passed = True
    pool = concurrent.futures.ThreadPoolExecutor(1)
    for name, check in [("startup", startup), ("concurrent", concurrent_calls), ("big_answer", big),
                        ("unknown_method", unknown)]:
        future = pool.submit(check)
        try:
            passed &= report(name, future.result(timeout=LIMIT), None)
        except concurrent.futures.TimeoutError:
            passed &= report(name, None, TimeoutError(f"no result within {LIMIT:.0f} s"))
            # The check's thread is stuck: later checks get a new one.
            pool = concurrent.futures.ThreadPoolExecutor(1)
        except Exception as error:  # noqa: BLE001 - every failure is reported
            passed &= report(name, None, error)
    return passed


# The async provider.

async def async_checks(make_provider):
    def w3():
        return attach(AsyncWeb3(make_provider()))

    async def startup():
        async with w3() as web3:
            return check_startup(await anamed("eth_chainId", web3.eth.chain_id),
                                 await anamed("eth_blockNumber", web3.eth.block_number),
                                 await anamed("net_version", web3.net.version),
                                 await anamed("web3_clientVersion", web3.client_version))

    async def concurrent_calls():
        async with w3() as web3:
            calls = echo_calls()
            answers = await asyncio.gather(
                *(web3.eth.interop_echoAfter(sent, delay) for sent, delay in calls))
            wrong = mismatches(calls, answers)
            if wrong:
                raise AssertionError(wrong)
            return f"{CALLS} concurrent calls, each matched"

    async def big():
        async with w3() as web3:
            answer = await web3.eth.interop_bigAnswer(BIG)
            if answer != big_answer(BIG):
                raise AssertionError(f"{len(answer)} bytes answered, not the {BIG + 2} expected")
            return f"a {len(answer)} byte string"

    async def unknown():
        async with w3() as web3:
            try:
                answer = await web3.eth.interop_noSuchMethod()
            except Web3RPCError as error:
                return check_unknown(error)
            raise AssertionError(f"answered {answer!r}")

    async def new_heads():
        async with w3() as web3:
            subscription = await web3.eth.subscribe("newHeads")
            numbers = []
            async for message in web3.socket.process_subscriptions():
                numbers.append(message["result"]["number"])
                if len(numbers) == 3:
                    break
            if numbers != sorted(set(numbers)):
                raise AssertionError(f"head numbers not counting up: {numbers}")
            unsubscribed = await web3.eth.unsubscribe(subscription)
            if unsubscribed is not True:
                raise AssertionError(f"heads {numbers}; eth_unsubscribe [{subscription}] answered {unsubscribed!r}")
            return f"heads {numbers}, unsubscribed {subscription}"

    async def unsubscribe_x100():
        async with w3() as web3:
            for round_ in range(1, 101):
                subscription = await web3.eth.subscribe("newHeads")
                unsubscribed = await web3.eth.unsubscribe(subscription)
                if unsubscribed is not True:
                    raise AssertionError(
                        f"round {round_}: eth_unsubscribe [{subscription}] answered {unsubscribed!r}")
            return "100 of 100 answered true"

    passed = True
    for name, check in [("startup", startup), ("concurrent", concurrent_calls), ("big_answer", big),
                        ("unknown_method", unknown), ("new_heads", new_heads),
                        ("unsubscribe_x100", unsubscribe_x100)]:
        try:
            passed &= report(name, await asyncio.wait_for(check(), LIMIT), None)
        except asyncio.TimeoutError:
            passed &= report(name, None, TimeoutError(f"no result within {LIMIT:.0f} s"))
        except Exception as error:  # noqa: BLE001 - every failure is reported
            passed &= report(name, None, error)
    return passed


MODES = {
    "sync": lambda path: sync_checks(lambda: IPCProvider(path, timeout=LIMIT)),
    "async": lambda path: asyncio.run(
        async_checks(lambda: AsyncIPCProvider(path, request_timeout=LIMIT))),
    "http": lambda addr: sync_checks(
        lambda: HTTPProvider(f"http://{addr}", request_kwargs={"timeout": LIMIT})),
    # The websockets library takes messages of up to 1 MiB unless told
    # otherwise: big_answer's is 4 MiB.
    "ws": lambda addr: asyncio.run(async_checks(lambda: WebSocketProvider(
        f"ws://{addr}", request_timeout=LIMIT, websocket_kwargs={"max_size": 2 * BIG}))),
}


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in MODES:
        print(__doc__, file=sys.stderr)
        return 2
    mode, target = sys.argv[1:]
    try:
        passed = MODES[mode](target)
    except Exception:  # noqa: BLE001
        traceback.print_exc()
        return 1
    return 0 if passed else 1


if __name__ == "__main__":
    sys.stdout.flush()
    # Threads of checks that timed out must not keep the process alive.
    os._exit(main())
