// ethers 6's IpcSocketProvider against the interop suite's geth-compatible
// server: `node ethers.mjs SOCKET`; its WebSocketProvider with
// `node ethers.mjs ws://HOST:PORT`.
//
// ethers sends `"params": []` for parameterless calls and reads answers
// line by line. A provider made without a network detects it with
// `eth_chainId` and, while that fails, sends nothing else (retrying every
// second), so only `startup` lets it detect; the other checks name the
// network (`new IpcSocketProvider(path, 1337)`) so they test their own
// subject.

import { IpcSocketProvider, WebSocketProvider } from 'ethers';
import { BIG, bigAnswer, countingUp, echoCalls, mismatches, run } from './checks.mjs';

const target = process.argv[2];
const providers = [];
function provider(network) {
  const made = target.startsWith('ws://')
    ? new WebSocketProvider(target, network)
    : new IpcSocketProvider(target, network);
  providers.push(made);
  return made;
}

await run([
  ['startup', async () => {
    const p = provider();
    // The detection's failures are reported as events, not thrown.
    let lastError;
    p.on('error', (error) => { lastError = error; });
    try {
      const network = await p.getNetwork();
      const block = await p.getBlockNumber();
      const net = await p.send('net_version', []);
      const version = await p.send('web3_clientVersion', []);
      if (network.chainId !== 1337n || net !== '1337' || !version.startsWith('tower-ipc-interop/')) {
        throw new Error(`chain id ${network.chainId}, net_version ${net}, client ${version}`);
      }
      return `chain id ${network.chainId}, block ${block}, net_version ${net}, ${version}`;
    } catch (error) {
      throw lastError ? new Error(`${error.message}; last error event: ${describe(lastError)}`) : error;
    }
  }],
  ['concurrent', async () => {
    const p = provider(1337);
    const calls = echoCalls();
    const answers = await Promise.all(calls.map((c) => p.send('interop_echoAfter', [c.value, c.delay])));
    const wrong = mismatches(calls, answers);
    if (wrong) throw new Error(wrong);
    return `${calls.length} concurrent calls, each matched`;
  }],
  ['big_answer', async () => {
    const answer = await provider(1337).send('interop_bigAnswer', [BIG]);
    if (answer !== bigAnswer(BIG)) throw new Error(`${answer.length} bytes answered, not the ${BIG + 2} expected`);
    return `a ${answer.length} byte string`;
  }],
  ['unknown_method', async () => {
    try {
      const answer = await provider(1337).send('interop_noSuchMethod', []);
      throw new Error(`answered ${JSON.stringify(answer)}`);
    } catch (error) {
      const code = error?.error?.code;
      if (code !== -32601) throw new Error(`not a -32601 error: ${describe(error)}`);
      return `error ${code}: ${error.error.message}`;
    }
  }],
  ['new_heads', async () => {
    // provider.on('block') subscribes to newHeads; off('block') sends
    // eth_unsubscribe and drops the answer, seen here in the debug events.
    const p = provider(1337);
    const unsubscribed = new Promise((resolve) => {
      let id;
      p.on('debug', (event) => {
        if (event.action === 'sendRpcPayload' && event.payload.method === 'eth_unsubscribe') id = event.payload.id;
        if (event.action === 'receiveRpcResult' && id !== undefined && event.result[0]?.id === id) resolve(event.result[0]);
      });
    });
    const numbers = await new Promise((resolve) => {
      const seen = [];
      p.on('block', (number) => {
        seen.push(number);
        if (seen.length === 3) resolve(seen);
      });
    });
    if (!countingUp(numbers)) throw new Error(`head numbers not counting up: ${numbers}`);
    await p.off('block');
    const answer = await unsubscribed;
    if (answer.result !== true) throw new Error(`heads ${numbers}; eth_unsubscribe answered ${JSON.stringify(answer)}`);
    return `heads ${numbers}, unsubscribed`;
  }],
  ['unsubscribe_x100', async () => {
    const p = provider(1337);
    for (let round = 1; round <= 100; round++) {
      const id = await p.send('eth_subscribe', ['newHeads']);
      const answer = await p.send('eth_unsubscribe', [id]);
      if (answer !== true) throw new Error(`round ${round}: eth_unsubscribe ["${id}"] answered ${JSON.stringify(answer)}`);
    }
    return '100 of 100 answered true';
  }],
]);

function describe(error) {
  const inner = error?.error ?? error?.info?.error;
  return inner ? `${error.shortMessage ?? error.message} (${JSON.stringify(inner)})` : String(error?.message ?? error);
}
