// seed/offload.ts: the seats of the seed's own copies in a boot storm. A copy the seed sends a machine
// that retries (iPXE) takes a seat until that machine's agent holds the file whole; once the agent came
// back (asked for the boot refs) the seat lasts the agent grace, renewed while it announces pieces, and
// is freed when it holds the file (then it takes the next machines). Holders are the seed's view of the
// tracker (a HolderSource), the clock is injected.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BootOffload, DEFAULT_AGENT_GRACE_MS, type BootFile } from '../../seed/offload.ts';
import type { HaveEntry } from '../../swarm/blobs/api.ts';

const file: BootFile = { name: 'initrd.img', sha256: 'a'.repeat(64), size: 105_000_000 };
const ipxe = (client: string) => ({ client, method: 'GET', range: false, retries: true });

function lab(): { o: BootOffload; clock: { t: number }; holders: HaveEntry[] } {
  const clock = { t: 1_000_000 };
  const holders: HaveEntry[] = [];
  const o = new BootOffload({ on: true, networks: ['10.213.90.0/24'], holders: { holders: () => holders }, now: () => clock.t });
  return { o, clock, holders };
}

/** A holder at `ip` with `held` of 4 pieces. */
function have(ip: string, held: number): HaveEntry {
  const bits = new Uint8Array(1);
  for (let i = 0; i < held; i++) bits[0]! |= 0x80 >> i;
  return { peerId: `peer-${ip}`, sha256: file.sha256, pieces: 4, have: bits, addrs: [], http: `http://${ip}:8000/blobs`, at: 0 };
}

test('the seed sends seedConcurrent copies, then iPXE waits; an agent that came back keeps its seat for the grace', () => {
  const { o, clock } = lab();
  assert.equal(o.decide(file, ipxe('10.213.90.11')).kind, 'serve');
  assert.equal(o.decide(file, ipxe('10.213.90.12')).kind, 'serve');
  assert.deepEqual(o.decide(file, ipxe('10.213.90.13')), { kind: 'busy', reason: 'seed_busy', retryAfterS: 5 });
  // Both machines' agents ask for the boot refs (hashing what stage 0 kept takes them minutes under emulation).
  o.clientBack('10.213.90.11');
  o.clientBack('10.213.90.12');
  clock.t += DEFAULT_AGENT_GRACE_MS - 1000;
  assert.equal(o.decide(file, ipxe('10.213.90.13')).kind, 'busy', 'seats kept during the grace');
  clock.t += 2000;
  assert.equal(o.decide(file, ipxe('10.213.90.13')).kind, 'serve', 'after the grace with no holder the seat is free');
});

test('the grace is 300 s: the 190 s an emulated agent took to hold the kept ramdisk cost no copy', () => {
  assert.equal(DEFAULT_AGENT_GRACE_MS, 300_000);
  const { o, clock } = lab();
  o.decide(file, ipxe('10.213.90.11'));
  o.decide(file, ipxe('10.213.90.12'));
  o.clientBack('10.213.90.11');
  o.clientBack('10.213.90.12');
  clock.t += 190_000;
  assert.equal(o.decide(file, ipxe('10.213.90.13')).kind, 'busy');
});

test('an agent announcing pieces renews its seat; one holding the file whole frees it and takes the next machine', () => {
  const { o, clock, holders } = lab();
  o.decide(file, ipxe('10.213.90.11'));
  o.decide(file, ipxe('10.213.90.12'));
  o.clientBack('10.213.90.11');
  o.clientBack('10.213.90.12');
  holders.push(have('10.213.90.11', 2), have('10.213.90.12', 1));
  clock.t += DEFAULT_AGENT_GRACE_MS - 1000;
  assert.equal(o.decide(file, ipxe('10.213.90.13')).kind, 'busy', 'renewed by this decision');
  clock.t += DEFAULT_AGENT_GRACE_MS - 1000;
  assert.equal(o.decide(file, ipxe('10.213.90.13')).kind, 'busy', 'still downloading: still seated');
  holders[0] = have('10.213.90.11', 4);
  const d = o.decide(file, ipxe('10.213.90.13'));
  assert.equal(d.kind, 'redirect', 'the complete holder takes the next machine');
  assert.equal(d.kind === 'redirect' && d.to.ip, '10.213.90.11');
  // Its seat is free, the other's is not: one more machine may get a seed copy only when no holder is free.
  assert.equal(o.decide(file, ipxe('10.213.90.14')).kind, 'redirect', 'a second redirect to the same holder (perHolder 2)');
  assert.deepEqual(o.decide(file, ipxe('10.213.90.15')), { kind: 'busy', reason: 'holders_busy', retryAfterS: 5 });
});

test('an agent that will not keep the file frees its seat at once; only its own seats, only the files it names', () => {
  const { o } = lab();
  const other = 'b'.repeat(64);
  o.decide(file, ipxe('10.213.90.11'));
  o.decide(file, ipxe('10.213.90.12'));
  o.clientBack('10.213.90.11');
  assert.equal(o.decide(file, ipxe('10.213.90.13')).kind, 'busy');
  assert.equal(o.declined('10.213.90.13', [file.sha256]), 0, 'a client without a seat frees nothing');
  assert.equal(o.declined('10.213.90.11', [other]), 0, 'another file: nothing');
  assert.equal(o.declined('::ffff:10.213.90.11', [file.sha256.toUpperCase()]), 1);
  assert.equal(o.decide(file, ipxe('10.213.90.13')).kind, 'serve', 'the freed seat goes to the next machine');
  assert.deepEqual(o.decide(file, ipxe('10.213.90.14')), { kind: 'busy', reason: 'seed_busy', retryAfterS: 5 });
  assert.match(o.render(), /^lpmos_boot_declined_seats_total 1$/m);
});
