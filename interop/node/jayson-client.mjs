// jayson 5's TCP client, pointed at a Unix socket (`{ path }`, passed to
// node's net.connect), against the interop suite's geth-compatible server:
// `node jayson-client.mjs SOCKET`.
//
// jayson opens a connection per request, sends a newline after each
// message, and reads newline-delimited answers. It has no subscriptions.
// Parameterless calls are sent with `"params": []`, as jayson's README
// writes them.

import jayson from 'jayson/promise/index.js';
import { BIG, bigAnswer, echoCalls, mismatches, run } from './checks.mjs';

const client = jayson.client.tcp({ path: process.argv[2] });

async function call(method, params) {
  const response = await client.request(method, params);
  if (response.error) {
    const error = new Error(`${method}: error ${JSON.stringify(response.error)}`);
    error.rpc = response.error;
    throw error;
  }
  return response.result;
}

await run([
  ['startup', async () => {
    const chainId = await call('eth_chainId', []);
    const block = await call('eth_blockNumber', []);
    const net = await call('net_version', []);
    const version = await call('web3_clientVersion', []);
    if (chainId !== '0x539' || net !== '1337' || !version.startsWith('tower-ipc-interop/')) {
      throw new Error(`chain id ${chainId}, net_version ${net}, client ${version}`);
    }
    return `chain id ${chainId}, block ${block}, net_version ${net}, ${version}`;
  }],
  ['concurrent', async () => {
    const calls = echoCalls();
    const answers = await Promise.all(calls.map((c) => call('interop_echoAfter', [c.value, c.delay])));
    const wrong = mismatches(calls, answers);
    if (wrong) throw new Error(wrong);
    return `${calls.length} concurrent calls (a connection each), each matched`;
  }],
  ['big_answer', async () => {
    const answer = await call('interop_bigAnswer', [BIG]);
    if (answer !== bigAnswer(BIG)) throw new Error(`${answer.length} bytes answered, not the ${BIG + 2} expected`);
    return `a ${answer.length} byte string`;
  }],
  ['unknown_method', async () => {
    try {
      const answer = await call('interop_noSuchMethod', []);
      throw new Error(`answered ${JSON.stringify(answer)}`);
    } catch (error) {
      if (error.rpc?.code !== -32601) throw new Error(`not a -32601 error: ${error.message}`);
      return `error ${error.rpc.code}: ${error.rpc.message}`;
    }
  }],
]);
