// The namespace half of the lab's uplink (uplink.ts): listens on host:port inside the namespace it was
// started in and copies every connection to the Unix socket of the host half. Run as
// `node lab/uplink-relay.ts 127.0.0.1:3128 /path/uplink.sock`.
import { connect, createServer } from 'node:net';

const [listen, socket] = process.argv.slice(2);
const m = /^([\d.]+):(\d+)$/.exec(listen ?? '');
if (!m || !socket) {
  process.stderr.write('usage: uplink-relay.ts <ipv4>:<port> <unix socket>\n');
  process.exit(2);
}
const server = createServer((client) => {
  const up = connect(socket);
  client.pipe(up);
  up.pipe(client);
  up.on('error', () => client.destroy());
  client.on('error', () => up.destroy());
});
server.listen(Number(m[2]), m[1], () => process.stdout.write(`relay listening on ${listen} → ${socket}\n`));
for (const s of ['SIGTERM', 'SIGINT'] as const) process.once(s, () => server.close(() => process.exit(0)));
