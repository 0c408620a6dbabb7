// The floor for any Node milter: answers OPTNEG and then "continue" to every command, with no state,
// no rules and no store, on one Node thread as Floodgate does. milter-load against it shows what
// Node's socket layer alone costs per session (README, Benchmarks); bench/postfix/e2e-bench.ts puts it
// behind Postfix, the most any Node milter could reach there.
//   node bench/ref-milter/node-floor.js PORT &       (on 127.0.0.1)
//   node bench/ref-milter/node-floor.js /path.sock &  (a unix socket, open to all: Postfix's smtpd runs as postfix)
//   bench/results/tmp/bin/milter-load -c 16 -P 2 -d 5 -w 1 inet:127.0.0.1:PORT
'use strict';
const net = require('node:net');

const CONTINUE = Buffer.from([0, 0, 0, 1, 0x63]);

/** OPTNEG answer: version 6, no actions, no protocol flags (every stage sent, every stage answered). */
function negotiateReply() {
  const reply = Buffer.alloc(17);
  reply.writeUInt32BE(13, 0);
  reply[4] = 0x4f; // 'O'
  reply.writeUInt32BE(6, 5);
  return reply;
}

const server = net.createServer({ noDelay: true }, (socket) => {
  let pending = Buffer.alloc(0);
  socket.on('data', (chunk) => {
    pending = pending.length > 0 ? Buffer.concat([pending, chunk]) : chunk;
    while (pending.length >= 4) {
      const length = pending.readUInt32BE(0);
      if (pending.length < 4 + length) break;
      const command = String.fromCharCode(pending[4]);
      pending = pending.subarray(4 + length);
      if (command === 'O') socket.write(negotiateReply());
      else if (command === 'Q') socket.end();
      else if (command !== 'D' && command !== 'A') socket.write(CONTINUE); // macros and ABORT get no answer
    }
  });
  socket.on('error', () => socket.destroy());
});
const where = process.argv[2] ?? '0';
if (/^[0-9]+$/.test(where)) {
  server.listen(Number(where), '127.0.0.1', () => console.log(`node-floor listening on 127.0.0.1:${server.address().port}`));
} else {
  server.listen(where, () => {
    require('node:fs').chmodSync(where, 0o666);
    console.log(`node-floor listening on ${where}`);
  });
}
