// Runs the TFTP server as its own process (for tests that put it in a network namespace):
// `node tftp-serve.ts '<json config>'`; prints {"port":N} on stdout when listening, logs JSON
// lines to stderr, stops on SIGTERM.
import { createLogger } from '../../core/log.ts';
import { startTftp } from '../../seed/tftp/server.ts';

const server = await startTftp(JSON.parse(process.argv[2] ?? '{}') as Parameters<typeof startTftp>[0], { log: createLogger({ format: 'json', level: 'info' }) });
process.stdout.write(`${JSON.stringify({ port: server.port })}\n`);
process.once('SIGTERM', () => void server.stop().then(() => process.exit(0)));
