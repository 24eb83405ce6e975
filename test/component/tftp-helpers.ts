// Helpers for the TFTP component tests: test files made at test time, a raw UDP client for the
// cases real clients cannot produce (traversal, NUL bytes, duplicate ACKs), and real-client runs.
import { createHash, randomBytes } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { execFile } from 'node:child_process';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Writable } from 'node:stream';
import { decode, type Packet } from '../../seed/tftp/packet.ts';

export async function tempDir(tag: string): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), `lpm-tftp-${process.pid}-${tag}-`));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** Writes `bytes` of random data (in 1 MiB pieces) and returns its sha256. */
export async function randomFile(path: string, bytes: number): Promise<string> {
  const hash = createHash('sha256');
  const out = createWriteStream(path);
  const piece = 1024 * 1024;
  for (let left = bytes; left > 0; left -= piece) {
    const b = randomBytes(Math.min(piece, left));
    hash.update(b);
    if (!out.write(b)) await new Promise<void>((r) => out.once('drain', () => r()));
  }
  await new Promise<void>((res, rej) => out.end((e?: Error | null) => (e ? rej(e) : res())));
  return hash.digest('hex');
}

export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(path), new Writable({ write: (c: Buffer, _e, cb) => (hash.update(c), cb()) }));
  return hash.digest('hex');
}

export function run(cmd: string, args: string[], timeoutMs = 120_000): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: timeoutMs, killSignal: 'SIGKILL' }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/** Real-client command lines: each fetches `file` from 127.0.0.1:port into `out`. */
export const clients: Record<string, (port: number, file: string, out: string) => [string, string[]]> = {
  'tftp-hpa (no options)': (port, file, out) => ['tftp', ['-m', 'binary', '127.0.0.1', String(port), '-c', 'get', file, out]],
  'atftp blksize 1468 windowsize 8': (port, file, out) => ['atftp', ['--option', 'blksize 1468', '--option', 'windowsize 8', '-g', '-r', file, '-l', out, '127.0.0.1', String(port)]],
  'atftp blksize 1468 windowsize 64': (port, file, out) => ['atftp', ['--option', 'blksize 1468', '--option', 'windowsize 64', '-g', '-r', file, '-l', out, '127.0.0.1', String(port)]],
  'curl --tftp-blksize 512': (port, file, out) => ['curl', ['-sS', '--tftp-blksize', '512', '-o', out, `tftp://127.0.0.1:${port}/${file}`]],
  'curl --tftp-blksize 1468': (port, file, out) => ['curl', ['-sS', '--tftp-blksize', '1468', '-o', out, `tftp://127.0.0.1:${port}/${file}`]],
  'curl --tftp-blksize 65464': (port, file, out) => ['curl', ['-sS', '--tftp-blksize', '65464', '-o', out, `tftp://127.0.0.1:${port}/${file}`]],
  'curl --tftp-no-options': (port, file, out) => ['curl', ['-sS', '--tftp-no-options', '-o', out, `tftp://127.0.0.1:${port}/${file}`]],
};

/** A raw TFTP client socket that records every packet it receives. */
export class RawClient {
  readonly socket: Socket = createSocket('udp4');
  readonly received: { packet: Packet; port: number }[] = [];
  #waiters: (() => void)[] = [];

  async open(): Promise<this> {
    this.socket.on('message', (m, r) => {
      this.received.push({ packet: decode(m), port: r.port });
      for (const w of this.#waiters.splice(0)) w();
    });
    await new Promise<void>((r) => this.socket.bind(0, '127.0.0.1', () => r()));
    return this;
  }

  /** Resolves once the datagram has left (closing the socket earlier would drop it). */
  send(buf: Buffer, port: number): Promise<void> {
    return new Promise((resolve, reject) => this.socket.send(buf, port, '127.0.0.1', (e) => (e ? reject(e) : resolve())));
  }

  /** Waits until `count` packets arrived in total, or fails after timeoutMs. */
  async waitFor(count: number, timeoutMs = 5000): Promise<{ packet: Packet; port: number }> {
    const deadline = Date.now() + timeoutMs;
    while (this.received.length < count) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`expected ${count} packets, got ${this.received.length}`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, left);
        this.#waiters.push(() => (clearTimeout(t), r()));
      });
    }
    return this.received[count - 1]!;
  }

  close(): void {
    this.socket.close();
  }
}
