// The lab's way out to the package archive. The seed runs inside the lab namespace, which has no route
// anywhere; its apt mirror still needs an upstream. This is a forward proxy in two halves joined by a
// Unix socket (a path in the file system, reachable from any network namespace): the host half, in
// this process, accepts CONNECT (what Node's fetch sends through HTTP_PROXY) and absolute-URL requests
// only for the allowed hosts (the Debian mirrors of the host's apt sources) on port 80; the namespace
// half (uplink-relay.ts) listens on the namespace's loopback and copies bytes to the socket. The seed
// is started with NODE_USE_ENV_PROXY=1 HTTP_PROXY=http://127.0.0.1:<port>.
import { createServer, request, type Server } from 'node:http';
import { connect } from 'node:net';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { spawnGroup, type LabProcess } from './process.ts';

/** `deb.debian.org:80` allowed? Pure. */
export function uplinkAllows(allowed: ReadonlySet<string>, hostPort: string): boolean {
  const m = /^([a-z0-9.-]+):(\d+)$/i.exec(hostPort);
  return !!m && m[2] === '80' && allowed.has(m[1]!.toLowerCase());
}

export interface UplinkStats {
  tunnels: number;
  requests: number;
  refused: number;
}

export class Uplink {
  readonly socket: string;
  readonly port: number;
  readonly stats: UplinkStats;
  readonly #server: Server;
  #relay: LabProcess | undefined;

  private constructor(socket: string, port: number, server: Server, stats: UplinkStats) {
    this.socket = socket;
    this.port = port;
    this.#server = server;
    this.stats = stats;
  }

  /** Environment for a process in the namespace whose fetch should go through the uplink. */
  get env(): Record<string, string> {
    return { NODE_USE_ENV_PROXY: '1', HTTP_PROXY: `http://127.0.0.1:${this.port}`, NO_PROXY: 'localhost,127.0.0.1,10.213.0.0/16' };
  }

  static async start(opts: { dir: string; netns: string; hosts: readonly string[]; port?: number; root: string; node?: string }): Promise<Uplink> {
    const allowed = new Set(opts.hosts.map((h) => h.toLowerCase()));
    const socket = join(opts.dir, 'uplink.sock');
    await rm(socket, { force: true });
    const stats: UplinkStats = { tunnels: 0, requests: 0, refused: 0 };
    const server = createServer((req, res) => {
      // Absolute-URL requests (curl -x, apt's http proxy): forwarded as they are.
      let u: URL;
      try {
        u = new URL(req.url ?? '');
      } catch {
        res.writeHead(400).end('absolute URL expected\n');
        return;
      }
      if (u.protocol !== 'http:' || !uplinkAllows(allowed, `${u.hostname}:${u.port || '80'}`)) {
        stats.refused++;
        res.writeHead(403).end(`${u.host} is not an allowed upstream\n`);
        return;
      }
      stats.requests++;
      const up = request(u, { method: req.method, headers: { ...req.headers, host: u.host } }, (r) => {
        res.writeHead(r.statusCode ?? 502, r.headers);
        r.pipe(res);
      });
      up.on('error', (e) => (res.headersSent ? res.destroy() : res.writeHead(502).end(`${e.message}\n`)));
      req.pipe(up);
    });
    server.on('connect', (req, client, head) => {
      const target = req.url ?? '';
      if (!uplinkAllows(allowed, target)) {
        stats.refused++;
        client.end('HTTP/1.1 403 Forbidden\r\n\r\n');
        return;
      }
      stats.tunnels++;
      const [host, port] = target.split(':') as [string, string];
      const up = connect(Number(port), host, () => {
        client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
        if (head.length) up.write(head);
        up.pipe(client);
        client.pipe(up);
      });
      up.on('error', () => client.destroy());
      client.on('error', () => up.destroy());
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(socket, () => resolve());
    });
    const port = opts.port ?? 3128;
    const u = new Uplink(socket, port, server, stats);
    try {
      u.#relay = spawnGroup([opts.node ?? process.execPath, join(opts.root, 'lab', 'uplink-relay.ts'), `127.0.0.1:${port}`, socket], { netns: opts.netns });
      await u.#waitRelay();
    } catch (e) {
      await u.stop();
      throw e;
    }
    return u;
  }

  async #waitRelay(): Promise<void> {
    const end = Date.now() + 15_000;
    while (!this.#relay?.output().includes('relay listening')) {
      if (!this.#relay?.running) throw new Error(`uplink relay exited:\n${this.#relay?.output() ?? ''}`);
      if (Date.now() > end) throw new Error(`uplink relay not listening after 15 s:\n${this.#relay.output()}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  async stop(): Promise<void> {
    await this.#relay?.stop(2000).catch(() => undefined);
    this.#server.closeAllConnections();
    await new Promise<void>((r) => this.#server.close(() => r()));
    await rm(this.socket, { force: true });
  }
}
