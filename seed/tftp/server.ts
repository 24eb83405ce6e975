// The seed's TFTP server (RFC 1350, 2347, 2348, 2349, 7440): read-only, confined to its root,
// one socket per transfer. Requests arrive on the well-known port; each accepted read request gets
// its own Session on a fresh port. Nothing a client sends can throw out of the receive loop.
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { once } from 'node:events';
import { LpmosError, ErrorCode } from '../../core/errors.ts';
import type { Logger } from '../../core/log.ts';
import { tftpConfigSchema, type TftpConfig, type TftpConfigInput } from './config.ts';
import { memorySource, NETASCII_MAX, openUnderRoot, resolveRoot, toNetascii, type DynamicFiles, type FileSource, type OpenResult } from './files.ts';

export type { DynamicFiles };
import { newMetrics, type TftpMetrics } from './metrics.ts';
import { mtuOfAddress } from './mtu.ts';
import { DATAGRAM_OVERHEAD, MAX_BLKSIZE, negotiate } from './options.ts';
import { decode, encodeError, encodeOack, TftpErrorCode, type Request } from './packet.ts';
import { checkPath } from './paths.ts';
import { FastEngine } from './fast-engine.ts';
import { openTransferSocket } from './libc.ts';
import { recordEnd, Session } from './session.ts';

export interface TftpDeps {
  log: Logger;
  dynamic?: DynamicFiles;
  /** Aborting it stops the server like stop(). */
  signal?: AbortSignal;
}

/** A client (address:port) with a transfer being set up or running. */
interface Slot {
  /** The RRQ as received: the same bytes again are a retransmission, other bytes a new request. */
  request: Buffer;
  cancelled: boolean;
  /** Ends the transfer quietly once it runs. */
  cancel?: () => void;
}

export class TftpServer {
  readonly config: TftpConfig;
  readonly metrics: TftpMetrics = newMetrics();
  readonly #deps: TftpDeps;
  #socket: Socket | undefined;
  #root = '';
  readonly #stop = new AbortController();
  /** Clients (address:port) with a transfer in progress or being set up: a repeated RRQ is ignored. */
  readonly #clients = new Map<string, Slot>();
  readonly #sessions = new Set<Promise<unknown>>();
  readonly #fast = new FastEngine((n) => (this.metrics.retransmits += n));

  constructor(config: TftpConfig, deps: TftpDeps) {
    this.config = config;
    this.#deps = deps;
  }

  async start(): Promise<void> {
    try {
      this.#root = await resolveRoot(this.config.root);
    } catch (e) {
      throw new LpmosError(ErrorCode.Validation, `--tftp-root ${this.config.root}: ${(e as Error).message}`, { cause: e });
    }
    const socket = createSocket({ type: 'udp4' });
    socket.on('message', (msg, rinfo) => {
      try {
        this.#onRequest(msg, rinfo);
      } catch (e) {
        this.metrics.dropped++;
        this.#deps.log.warn({ err: e, client: rinfo.address }, 'tftp: request handler failed');
      }
    });
    socket.on('error', (e) => this.#deps.log.warn({ err: e }, 'tftp: socket error'));
    socket.bind({ address: this.config.address, port: this.config.port, exclusive: true });
    try {
      await Promise.race([once(socket, 'listening'), once(socket, 'error').then(([e]) => Promise.reject(e as Error))]);
    } catch (e) {
      socket.close();
      throw new LpmosError(ErrorCode.Unavailable, `tftp: cannot bind ${this.config.address}:${this.config.port}: ${(e as Error).message}`, { cause: e });
    }
    this.#socket = socket;
    this.#deps.signal?.addEventListener('abort', () => void this.stop(), { once: true });
    this.#deps.log.info({ address: this.config.address, port: this.port, root: this.#root }, 'tftp server listening');
  }

  /** The bound port (useful with port 0). */
  get port(): number {
    return this.#socket?.address().port ?? this.config.port;
  }

  /** Stops accepting requests, aborts transfers in progress (they get ERROR 0) and waits for them. */
  async stop(): Promise<void> {
    const socket = this.#socket;
    if (!socket) return;
    this.#socket = undefined;
    this.#stop.abort();
    this.#fast.abortAll('server shutting down');
    socket.close();
    await Promise.allSettled([...this.#sessions]);
    await this.#fast.close();
  }

  #reply(rinfo: RemoteInfo, code: TftpErrorCode, message: string): void {
    this.metrics.errors++;
    this.#socket?.send(encodeError(code, message), rinfo.port, rinfo.address, () => undefined);
  }

  #onRequest(msg: Buffer, rinfo: RemoteInfo): void {
    const p = decode(msg);
    switch (p.op) {
      case 'rrq':
        break;
      case 'wrq':
        this.#deps.log.info({ client: rinfo.address, file: p.filename }, 'tftp: write request refused');
        this.#reply(rinfo, TftpErrorCode.AccessViolation, 'read-only server: write requests are refused');
        return;
      case 'invalid':
        this.metrics.dropped++;
        // Answer only malformed requests: junk of other kinds is not reflected back.
        if (p.nulInFilename) this.#reply(rinfo, TftpErrorCode.AccessViolation, 'NUL byte in file name');
        else if (msg.length >= 2 && (msg[1] === 1 || msg[1] === 2) && msg[0] === 0) this.#reply(rinfo, TftpErrorCode.IllegalOperation, p.reason);
        return;
      default:
        // DATA/ACK/ERROR/OACK belong to a transfer port, not the request port.
        this.metrics.dropped++;
        return;
    }
    const key = `${rinfo.address}:${rinfo.port}`;
    const held = this.#clients.get(key);
    if (held) {
      if (held.request.equals(msg)) return; // a retransmitted RRQ: the transfer is already answering
      // A different request from the same port: the client gave the old transfer up (UEFI ends its
      // tsize probe with ERROR 8 and asks again at once, before that transfer may have wound down).
      held.cancelled = true;
      held.cancel?.();
      this.#release(key, held);
    }
    if (this.#clients.size >= this.config.maxTransfers) {
      this.metrics.busy++;
      this.#deps.log.warn({ client: key, file: p.filename, limit: this.config.maxTransfers }, 'tftp: too many transfers, request refused');
      this.#reply(rinfo, TftpErrorCode.NotDefined, `server busy: ${this.config.maxTransfers} transfers in progress, try again later`);
      return;
    }
    const slot: Slot = { request: Buffer.from(msg), cancelled: false };
    this.#clients.set(key, slot);
    this.metrics.active = this.#clients.size;
    const release = (): void => this.#release(key, slot);
    const run = this.#serve(p, rinfo, slot, release)
      .catch((e: unknown) => this.#deps.log.warn({ err: e, client: key }, 'tftp: transfer failed'))
      .finally(() => {
        release();
        this.#sessions.delete(run);
      });
    this.#sessions.add(run);
  }

  /** Frees a client's slot, unless a newer transfer of the same client holds it already. */
  #release(key: string, slot: Slot): void {
    if (this.#clients.get(key) === slot) this.#clients.delete(key);
    this.metrics.active = this.#clients.size;
  }

  async #open(req: Request, rinfo: RemoteInfo): Promise<OpenResult> {
    if (req.mode === 'mail') return { ok: false, code: TftpErrorCode.IllegalOperation, reason: 'mail mode is not supported' };
    const checked = checkPath(req.filename);
    if (!checked.ok) return checked;
    let source: FileSource | undefined;
    let dyn: Buffer | undefined;
    try {
      dyn = await this.#deps.dynamic?.resolve(checked.path, { address: rinfo.address }, AbortSignal.any([this.#stop.signal, AbortSignal.timeout(this.config.renderTimeoutMs)]));
    } catch (e) {
      // e.g. the store is unreachable: the client gets an error now instead of a timeout later
      this.#deps.log.warn({ err: e, file: checked.path, client: rinfo.address }, 'tftp: rendering a dynamic file failed');
      return { ok: false, code: TftpErrorCode.NotDefined, reason: `cannot render ${checked.path}` };
    }
    if (dyn) source = memorySource(dyn);
    else {
      const opened = await openUnderRoot(this.#root, checked.path);
      if (!opened.ok) return opened;
      source = opened.source;
    }
    if (req.mode === 'netascii') {
      // RFC 1350 netascii: converted in memory; boot loaders use octet, this is for people.
      const s = source;
      if (s.size > NETASCII_MAX) {
        await s.close();
        return { ok: false, code: TftpErrorCode.NotDefined, reason: 'file too large for netascii mode, use octet' };
      }
      const all = await s.read(0, s.size).finally(() => s.close());
      source = memorySource(toNetascii(all));
    }
    return { ok: true, source };
  }

  async #serve(req: Request, rinfo: RemoteInfo, slot: Slot, release: () => void): Promise<void> {
    const log = this.#deps.log;
    const opened = await this.#open(req, rinfo);
    if (!opened.ok) {
      log.info({ client: `${rinfo.address}:${rinfo.port}`, file: req.filename, code: opened.code, reason: opened.reason }, 'tftp: request refused');
      this.#reply(rinfo, opened.code, opened.code === TftpErrorCode.FileNotFound ? 'file not found' : opened.reason);
      return;
    }
    const source = opened.source;
    if (this.#stop.signal.aborted || slot.cancelled) {
      await source.close();
      return;
    }
    if (this.config.engine === 'worker' && source.fd !== undefined) {
      await this.#serveFast(req, rinfo, source, source.fd, slot, release);
      return;
    }
    const socket = createSocket({ type: 'udp4' });
    try {
      socket.bind({ address: this.config.address, port: 0 });
      await once(socket, 'listening');
      socket.connect(rinfo.port, rinfo.address);
      await once(socket, 'connect');
    } catch (e) {
      socket.close();
      await source.close();
      throw e;
    }
    const mtu = mtuOfAddress(socket.address().address);
    const maxBlksize = Math.min(this.config.maxBlksize, mtu ? mtu - DATAGRAM_OVERHEAD : MAX_BLKSIZE);
    const negotiated = negotiate(req.options, source.size, { maxBlksize, maxWindowsize: this.config.maxWindowsize, defaultTimeoutMs: this.config.timeoutMs });
    this.metrics.transfers++;
    const session = new Session({
      socket,
      client: { address: rinfo.address, port: rinfo.port },
      file: req.filename,
      source,
      negotiated,
      retries: this.config.retries,
      deadlineMs: this.config.deadlineMs,
      log,
      metrics: this.metrics,
      signal: this.#stop.signal,
      // Free the client's slot at once: a UEFI client ends its tsize probe with ERROR 8 and asks
      // again right away, possibly from the same port.
      onEnd: release,
    });
    slot.cancel = () => session.cancel();
    await session.run();
  }
  async #serveFast(req: Request, rinfo: RemoteInfo, source: FileSource, fileFd: number, slot: Slot, release: () => void): Promise<void> {
    const client = { address: rinfo.address, port: rinfo.port };
    let sock: { fd: number; local: string };
    try {
      sock = openTransferSocket(this.config.address, client);
    } catch (e) {
      await source.close();
      throw e;
    }
    const mtu = mtuOfAddress(sock.local);
    const maxBlksize = Math.min(this.config.maxBlksize, mtu ? mtu - DATAGRAM_OVERHEAD : MAX_BLKSIZE);
    const negotiated = negotiate(req.options, source.size, { maxBlksize, maxWindowsize: this.config.maxWindowsize, defaultTimeoutMs: this.config.timeoutMs });
    this.metrics.transfers++;
    const t0 = process.hrtime.bigint();
    try {
      const run = this.#fast.run({
        sock: sock.fd,
        fileFd,
        size: source.size,
        blksize: negotiated.blksize,
        windowsize: negotiated.windowsize,
        timeoutMs: negotiated.timeoutMs,
        oack: negotiated.reply.size > 0 ? encodeOack(negotiated.reply) : null,
        retries: this.config.retries,
        deadlineMs: this.config.deadlineMs,
        // Windows keep both CPUs busy (one sends, one receives); lock-step only waits for wake-ups.
        followCpu: this.config.followCpu && negotiated.windowsize === 1,
        spinUs: negotiated.windowsize === 1 ? this.config.spinUs : 0,
      });
      slot.cancel = run.cancel;
      const r = await run.done;
      release();
      this.metrics.dropped += r.dropped;
      // the worker sent an ERROR itself for these
      if (r.result === 'timeout' || r.result === 'deadline' || r.result === 'shutdown' || r.result === 'read-error') this.metrics.errors++;
      recordEnd({ metrics: this.metrics, negotiated, source, file: req.filename, client, log: this.#deps.log }, r.result, Number(process.hrtime.bigint() - t0) / 1e9, r.acked, r.error, r.awake);
    } finally {
      await source.close();
    }
  }
}

/** Validates the config (errors name the flag), binds and returns the running server. */
export async function startTftp(config: TftpConfigInput, deps: TftpDeps): Promise<TftpServer> {
  const parsed = tftpConfigSchema.safeParse(config);
  if (!parsed.success) {
    throw new LpmosError(ErrorCode.Validation, 'invalid TFTP configuration', {
      details: parsed.error.issues.map((i) => ({ path: `tftp.${i.path.join('.')}`, message: i.message })),
    });
  }
  const server = new TftpServer(parsed.data, deps);
  await server.start();
  return server;
}
