// A seed for the swarm component tests (blobs-exchange, swarm-tracker): a real etcd, the seed's
// HTTP artifact route over a directory of random files, and a SeedSwarm with its blob exchange on
// loopback. Tests register how to stop what they start (`cleanups`); `endTest` runs those of one
// test (agents of one test stop after it), `stop` runs the rest and removes everything.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Keys } from '../../core/keys.ts';
import type { Store } from '../../core/store/store.ts';
import { openStore } from '../../store/connect.ts';
import type { BlobService } from '../../swarm/blobs/index.ts';
import { SeedSwarm } from '../../swarm/seed-swarm.ts';
import { TestEtcd } from '../helpers/etcd.ts';
import { artifactDir, testServer, type TestServer } from './http-helpers.ts';

export class SeedFixture {
  readonly keys: Keys;
  readonly stateDir: string;
  readonly cleanups: (() => Promise<unknown>)[] = [];
  etcd: TestEtcd | undefined;
  store: Store | undefined;
  http: TestServer | undefined;
  files: Awaited<ReturnType<typeof artifactDir>> | undefined;
  seed: SeedSwarm | undefined;
  readonly site: string;

  constructor(site: string, tmpPrefix: string) {
    this.site = site;
    this.keys = new Keys('/lpmos/', site);
    this.stateDir = mkdtempSync(join(tmpdir(), `${tmpPrefix}-${process.pid}-`));
  }

  /** Starts etcd, the artifact server over files of these sizes (or contents) and the seed. */
  async start(files: Record<string, number | Buffer>): Promise<{ etcd: TestEtcd; store: Store; http: TestServer; files: Awaited<ReturnType<typeof artifactDir>>; seed: SeedSwarm; seedBlobs: BlobService }> {
    const etcd = (this.etcd = await TestEtcd.start());
    const store = (this.store = await openStore({ endpoints: etcd.endpoints }));
    const dir = (this.files = await artifactDir(files));
    const http = (this.http = await testServer(store, { artifacts: [dir.dir] }, { site: this.site, etcd: etcd.endpoints }));
    const seed = (this.seed = await SeedSwarm.start({ store, keys: this.keys, site: this.site, stateDir: this.stateDir, listen: ['/ip4/127.0.0.1/tcp/0'], blobs: { dir: join(this.stateDir, 'blobs') } }));
    return { etcd, store, http, files: dir, seed, seedBlobs: seed.blobs! };
  }

  /** Stops what the current test started. */
  async endTest(): Promise<void> {
    for (const c of this.cleanups.splice(0).reverse()) await c().catch(() => undefined);
  }

  /** Stops everything, also after a failed start. */
  async stop(): Promise<void> {
    await this.endTest();
    await this.seed?.stop().catch(() => undefined);
    await this.http?.stop().catch(() => undefined);
    await this.files?.cleanup();
    await this.store?.close();
    await this.etcd?.stop();
    rmSync(this.stateDir, { recursive: true, force: true });
  }
}
