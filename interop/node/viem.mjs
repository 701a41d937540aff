// viem 2's IPC transport (`viem/node`) against the interop suite's
// geth-compatible server: `node viem.mjs SOCKET`.
//
// viem omits `params` for parameterless calls and writes its messages back
// to back with no separator. watchBlockNumber subscribes to newHeads and
// its unwatch drops the eth_unsubscribe answer, so unsubscribe_x100 uses the
// transport's subscribe, whose unsubscribe() gives the answer.

import { createPublicClient } from 'viem';
import { ipc } from 'viem/node';
import { BIG, bigAnswer, countingUp, echoCalls, mismatches, run } from './checks.mjs';

const path = process.argv[2];
const client = createPublicClient({ transport: ipc(path) });

await run([
  ['startup', async () => {
    const chainId = await client.getChainId();
    const block = await client.getBlockNumber();
    const net = await client.request({ method: 'net_version' });
    const version = await client.request({ method: 'web3_clientVersion' });
    if (chainId !== 1337 || net !== '1337' || !version.startsWith('tower-ipc-interop/')) {
      throw new Error(`chain id ${chainId}, net_version ${net}, client ${version}`);
    }
    return `chain id ${chainId}, block ${block}, net_version ${net}, ${version}`;
  }],
  ['concurrent', async () => {
    const calls = echoCalls();
    const answers = await Promise.all(
      calls.map((c) => client.request({ method: 'interop_echoAfter', params: [c.value, c.delay] })),
    );
    const wrong = mismatches(calls, answers);
    if (wrong) throw new Error(wrong);
    return `${calls.length} concurrent calls, each matched`;
  }],
  ['big_answer', async () => {
    const answer = await client.request({ method: 'interop_bigAnswer', params: [BIG] });
    if (answer !== bigAnswer(BIG)) throw new Error(`${answer.length} bytes answered, not the ${BIG + 2} expected`);
    return `a ${answer.length} byte string`;
  }],
  ['unknown_method', async () => {
    try {
      const answer = await client.request({ method: 'interop_noSuchMethod' });
      throw new Error(`answered ${JSON.stringify(answer)}`);
    } catch (error) {
      if (error.code !== -32601) throw new Error(`not a -32601 error: ${error.shortMessage ?? error.message}`);
      return `error ${error.code} (${error.name}): ${error.details}`;
    }
  }],
  ['new_heads', async () => {
    let unwatch;
    const numbers = await new Promise((resolve, reject) => {
      const seen = [];
      unwatch = client.watchBlockNumber({
        poll: false,
        emitMissed: false,
        onBlockNumber(number) {
          seen.push(number);
          if (seen.length === 3) resolve(seen);
        },
        onError: reject,
      });
    });
    unwatch();
    if (!countingUp(numbers)) throw new Error(`head numbers not counting up: ${numbers}`);
    return `heads ${numbers.join(',')}`;
  }],
  ['unsubscribe_x100', async () => {
    for (let round = 1; round <= 100; round++) {
      const { subscriptionId, unsubscribe } = await client.transport.subscribe({
        params: ['newHeads'],
        onData() {},
        onError() {},
      });
      const answer = await unsubscribe();
      if (answer.result !== true) {
        throw new Error(`round ${round}: eth_unsubscribe ["${subscriptionId}"] answered ${JSON.stringify(answer)}`);
      }
    }
    return '100 of 100 answered true';
  }],
]);
