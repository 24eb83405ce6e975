// `npm run bench:list`: `lpmos machine list` over 10,000 machines (identity, spec, status and a
// realistic ~2 KB inventory each) against a real etcd, measured end to end as an operator runs it
// (a new CLI process each time), beside the reference: `etcdctl get --prefix` of the same keys.
// Goal (issue 2): under 2 s.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Keys } from '../core/keys.ts';
import type { Operation } from '../core/store/store.ts';
import { ManagedEtcd } from '../store/managed-etcd.ts';
import { openStore } from '../store/connect.ts';

const N = Number(process.env.BENCH_MACHINES ?? 10_000);
const RUNS = 3;
const BIN = new URL('../bin/lpmos.js', import.meta.url).pathname;

function inventory(i: number): object {
  return {
    cpu: { model: 'Intel(R) Xeon(R) Gold 6338 CPU @ 2.00GHz', sockets: 2, cores: 64, threads: 128 },
    memoryBytes: 512 * 2 ** 30,
    system: { vendor: 'Supermicro', product: 'SYS-120U-TNR', serial: `S${i}`, uuid: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}` },
    disks: Array.from({ length: 4 }, (_, d) => ({ name: `nvme${d}n1`, sizeBytes: 3.84e12, model: 'SAMSUNG MZQL23T8HCLS-00A07', serial: `S64HNE0R${i}${d}`, wwn: `eui.36344730526${i}${d}`, rotational: false, byPath: `pci-0000:${d}1:00.0-nvme-1` })),
    nics: Array.from({ length: 4 }, (_, n) => ({ name: `ens${n}f0`, mac: `02:00:${((i >> 8) & 255).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}:00:0${n}`, link: true, speedMbps: 25000, driver: 'mlx5_core' })),
  };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? NaN;
}

function time(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): { seconds: number; bytes: number } {
  const t = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { env, maxBuffer: 1 << 30 });
  const seconds = Number(process.hrtime.bigint() - t) / 1e9;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr.toString()}`);
  return { seconds, bytes: r.stdout.length };
}

const dir = mkdtempSync(join(tmpdir(), 'lpmos-bench-list-'));
const etcd = new ManagedEtcd({ stateDir: dir });
try {
  await etcd.start();
  const endpoints = etcd.clientUrls;
  const store = await openStore({ endpoints });
  const keys = new Keys();
  const now = new Date().toISOString();
  process.stderr.write(`writing ${N} machines…\n`);
  const batch = 20; // 5 keys a machine; etcd allows 128 operations per transaction
  for (let start = 0; start < N; start += batch * 8) {
    const txns: Promise<unknown>[] = [];
    for (let b = start; b < Math.min(N, start + batch * 8); b += batch) {
      const ops: Operation[] = [];
      for (let i = b; i < Math.min(N, b + batch); i++) {
        const name = `node-${String(i).padStart(5, '0')}`;
        const mac = `52:54:${((i >> 16) & 255).toString(16).padStart(2, '0')}:${((i >> 8) & 255).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}:01`;
        ops.push(
          { type: 'put', key: keys.machine(name), value: JSON.stringify({ kind: 'Machine', name, macs: [mac], labels: { rack: `r${Math.floor(i / 40)}` }, createdAt: now }) },
          { type: 'put', key: keys.macIndex(mac), value: name },
          { type: 'put', key: keys.spec(name), value: JSON.stringify({ action: 'install', profile: 'debian12-minimal', updatedAt: now }) },
          { type: 'put', key: keys.status(name), value: JSON.stringify({ state: 'provisioning', step: 'debootstrap', progress: 42, since: now, updatedAt: now }) },
          { type: 'put', key: keys.inventory(name), value: JSON.stringify(inventory(i)) },
        );
      }
      txns.push(store.txn([], ops));
    }
    await Promise.all(txns);
  }
  await store.close();
  const env = { ...process.env, LPMOS_ETCD: endpoints.join(',') };
  const ours = { json: [] as number[], table: [] as number[] };
  const ref: number[] = [];
  let outBytes = 0;
  const etcdctl = execFileSync('sh', ['-c', 'command -v etcdctl || true']).toString().trim();
  for (let r = 0; r < RUNS; r++) {
    const j = time(process.execPath, [BIN, 'machine', 'list', '-o', 'json'], env);
    outBytes = j.bytes;
    ours.json.push(j.seconds);
    ours.table.push(time(process.execPath, [BIN, 'machine', 'list'], env).seconds);
    if (etcdctl) ref.push(time(etcdctl, ['--endpoints', endpoints.join(','), 'get', '--prefix', keys.machines(), '-w', 'json'], { ...process.env, ETCDCTL_API: '3' }).seconds);
  }
  const m = { json: median(ours.json), table: median(ours.table), ref: median(ref) };
  process.stdout.write(`\nmachine list, ${N} machines (${(outBytes / 2 ** 20).toFixed(1)} MiB of JSON out), median of ${RUNS} runs, each a new CLI process:\n`);
  process.stdout.write(`  lpmos machine list -o json   ${m.json.toFixed(2)} s   ${m.json < 2 ? 'goal met (< 2 s)' : 'GOAL MISSED (>= 2 s)'}\n`);
  process.stdout.write(`  lpmos machine list (table)   ${m.table.toFixed(2)} s   ${m.table < 2 ? 'goal met (< 2 s)' : 'GOAL MISSED (>= 2 s)'}\n`);
  if (etcdctl) process.stdout.write(`  reference: etcdctl get --prefix (same keys, JSON)   ${m.ref.toFixed(2)} s   ratio lpmos/etcdctl ${(m.json / m.ref).toFixed(2)}\n`);
} finally {
  await etcd.stop();
  rmSync(dir, { recursive: true, force: true });
}
