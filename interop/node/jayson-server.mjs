// The interop suite's methods on jayson 5's TCP server, listening on a Unix
// socket (node's net.Server.listen(path)), for tower-ipc's JsonRpcClient:
// `node jayson-server.mjs SOCKET`. No subscriptions: jayson has none.
//
// jayson reads newline-delimited requests and writes a newline after each
// answer.

import jayson from 'jayson';

const path = process.argv[2];
let number = 0;
setInterval(() => { number++; }, 50);

const server = new jayson.Server({
  eth_chainId: (_args, done) => done(null, '0x539'),
  eth_blockNumber: (_args, done) => done(null, `0x${number.toString(16)}`),
  net_version: (_args, done) => done(null, '1337'),
  web3_clientVersion: (_args, done) => done(null, 'jayson/5.0.0'),
  interop_echoAfter: ([value, ms], done) => setTimeout(() => done(null, value), Math.min(ms, 10_000)),
  interop_bigAnswer: ([len], done) => {
    if (!Number.isInteger(len) || len < 0 || len > 64 << 20) {
      return done(server.error(-32602, `${len} is not a length up to ${64 << 20}`));
    }
    done(null, '0x' + '0123456789abcdef'.repeat(Math.ceil(len / 16)).slice(0, len));
  },
});

server.tcp().listen(path, () => console.log(`listening on ${path}`));
