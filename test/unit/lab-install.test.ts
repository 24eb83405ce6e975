// The pure parts of the install run shared by `lpmos demo` and `npm run bench:install`: argument
// validation, the lab machines and profiles, the summary table, step timing from a progress log,
// byte counters from `machine show -o json`, what a status change means, and watch-line parsing.
// (The full VM run is test/e2e/install.test.ts.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isLpmosError } from '../../core/errors.ts';
import { parseObjects, validateDocuments } from '../../core/model/documents.ts';
import { DEMO_LAB_INDEX, NEEDS_ROOT, parseTimeoutMinutes, planDemo } from '../../cli/commands/demo.ts';
import { ProgressView, progressLabel, progressValue } from '../../cli/progress-view.ts';
import { labAddressing } from '../../lab/network.ts';
import { defaultVmCount, firmwareOf, LAB_PROFILES, labMachines, MAX_VMS, parseFirmware, parseVmCount, profileFor } from '../../lab/install-plan.ts';
import { parseWatchLines, progressAction } from '../../lab/install-run.ts';
import { blobBytes, formatBytes, formatDuration, outcomeDuration, renderStepTimings, renderSummary, stepTimings, type MachineOutcome } from '../../lab/install-report.ts';

const usage = (fn: () => unknown, re: RegExp): void => {
  assert.throws(fn, (e: unknown) => isLpmosError(e, 'E_USAGE') && re.test((e as Error).message));
};

test('--vms: whole numbers 1..MAX_VMS; anything else is a usage error naming the flag', () => {
  assert.equal(parseVmCount('1'), 1);
  assert.equal(parseVmCount(String(MAX_VMS)), MAX_VMS);
  for (const bad of ['0', '-1', '1.5', 'two', '', ' ', String(MAX_VMS + 1), '1e1', '0x2']) usage(() => parseVmCount(bad), /--vms/);
  usage(() => parseVmCount('x', 'BENCH_VMS'), /^BENCH_VMS "x"/);
});

test('--firmware: bios, uefi or mixed (case-insensitive); mixed alternates starting with BIOS', () => {
  assert.equal(parseFirmware('BIOS'), 'bios');
  assert.equal(parseFirmware('uefi'), 'uefi');
  assert.equal(parseFirmware('mixed'), 'mixed');
  usage(() => parseFirmware('efi'), /--firmware "efi": expected one of bios, uefi, mixed/);
  assert.deepEqual([0, 1, 2, 3].map((i) => firmwareOf('mixed', i)), ['bios', 'uefi', 'bios', 'uefi']);
  assert.deepEqual([0, 1].map((i) => firmwareOf('uefi', i)), ['uefi', 'uefi']);
});

test('--timeout: whole minutes 1..1440', () => {
  assert.equal(parseTimeoutMinutes('45'), 45);
  for (const bad of ['0', '1441', '2.5', 'soon']) usage(() => parseTimeoutMinutes(bad), /--timeout/);
});

test('planDemo: defaults by accelerator (3 VMs with KVM, 1 under TCG), --no-vms keeps the seed-only demo', () => {
  assert.equal(defaultVmCount('kvm'), 3);
  assert.equal(defaultVmCount('tcg'), 1);
  assert.deepEqual(planDemo({}, 'kvm'), { mode: 'lab', count: 3, firmware: 'mixed', timeoutMs: 20 * 60_000, exit: false });
  assert.deepEqual(planDemo({}, 'tcg'), { mode: 'lab', count: 1, firmware: 'mixed', timeoutMs: 90 * 60_000, exit: false });
  assert.deepEqual(planDemo({ vms: 2, firmware: 'uefi', timeout: 30, exit: true }, 'tcg'), { mode: 'lab', count: 2, firmware: 'uefi', timeoutMs: 30 * 60_000, exit: true });
  assert.deepEqual(planDemo({ vms: false, exit: true }, 'kvm'), { mode: 'seed-only', exit: true });
  usage(() => planDemo({ vms: false, firmware: 'bios' }, 'kvm'), /--firmware .* --no-vms/);
  usage(() => planDemo({ vms: false, timeout: 5 }, 'kvm'), /--timeout .* --no-vms/);
  assert.match(NEEDS_ROOT, /needs root/);
  assert.match(NEEDS_ROOT, /--no-vms/);
});

test('the demo lab is 10.213.66.0/24 (index 2), apart from the e2e tests (indexes 0 and 1)', () => {
  assert.equal(DEMO_LAB_INDEX, 2);
  assert.equal(labAddressing(DEMO_LAB_INDEX).seed, '10.213.66.1');
});

test('labMachines: ids are m-<MAC>, MACs distinct, one profile per firmware, and the profiles validate', () => {
  const ms = labMachines(3, 'mixed');
  assert.deepEqual(ms.map((m) => m.id), ['m-525400de0001', 'm-525400de0002', 'm-525400de0003']);
  assert.deepEqual(ms.map((m) => m.def.firmware), ['bios', 'uefi', 'bios']);
  assert.deepEqual(ms.map((m) => m.profile), [profileFor('bios'), profileFor('uefi'), profileFor('bios')]);
  for (const m of ms) {
    assert.equal(m.id, `m-${m.def.mac.replaceAll(':', '')}`);
    assert.equal(m.def.disks.length, 1);
    assert.equal(m.def.cpus, 1);
  }
  assert.equal(new Set(labMachines(MAX_VMS, 'bios').map((m) => m.def.mac)).size, MAX_VMS);
  usage(() => labMachines(0, 'bios'), /machine count 0/);
  const docs = validateDocuments(parseObjects(LAB_PROFILES, 'lab profiles'), 'lab profiles');
  assert.deepEqual(docs.map((d) => d.name).sort(), [profileFor('bios'), profileFor('uefi')].sort());
  // Only what the firmware boots from: a BIOS boot partition for BIOS, an ESP for UEFI; no extra packages.
  assert.match(LAB_PROFILES, /name: demo-debian12-bios[\s\S]*type: bios-boot[\s\S]*name: demo-debian12-uefi[\s\S]*type: esp/);
  assert.doesNotMatch(LAB_PROFILES, /packages:/);
});

const T0 = Date.parse('2026-11-22T18:00:00Z');
const outcome = (o: Partial<MachineOutcome>): MachineOutcome => ({
  id: 'm-525400de0001', firmware: 'bios', profile: 'demo-debian12-bios', poweredOnAt: T0, endedAt: T0, result: 'provisioned', ...o,
});

test('summary table: duration power-on → provisioned, bytes in binary units, "-" when unknown, errors with the result', () => {
  const table = renderSummary([
    outcome({ provisionedAt: T0 + 754_000, endedAt: T0 + 754_000, bytesFromSeed: 150 * 2 ** 20 + 2 ** 19, bytesFromPeers: 0 }),
    outcome({ id: 'm-525400de0002', firmware: 'uefi', result: 'failed', endedAt: T0 + 61_000, error: 'E_VALIDATION: root does not fit' }),
    outcome({ id: 'm-525400de0003', result: 'timed out', endedAt: T0 + 3_600_000 + 62_000, error: 'not provisioned after 60 min' }),
  ]);
  assert.deepEqual(table.split('\n'), [
    'MACHINE         FIRMWARE  DURATION      FROM SEED  FROM PEERS  RESULT',
    'm-525400de0001  bios      12m 34s       150.5 MiB  0 B         provisioned',
    'm-525400de0002  uefi      (1m 01s)      -          -           failed: E_VALIDATION: root does not fit',
    'm-525400de0003  bios      (1h 01m 02s)  -          -           timed out: not provisioned after 60 min',
    '',
  ]);
  assert.equal(outcomeDuration(outcome({ provisionedAt: T0 + 5000, endedAt: T0 + 9000 })), 5000);
});

test('formatDuration and formatBytes', () => {
  assert.equal(formatDuration(0), '0 s');
  assert.equal(formatDuration(59_400), '59 s');
  assert.equal(formatDuration(60_000), '1m 00s');
  assert.equal(formatDuration(-1), '-');
  assert.equal(formatBytes(undefined), '-');
  assert.equal(formatBytes(-5), '-');
  assert.equal(formatBytes(1023), '1023 B');
  assert.equal(formatBytes(1536), '1.5 KiB');
  assert.equal(formatBytes(3 * 2 ** 30), '3.0 GiB');
});

test('blobBytes: the counters wherever machine show puts them; undefined when absent or not numbers', () => {
  assert.deepEqual(blobBytes({ name: 'm', metrics: { blobs: { bytesFromSeed: 10, bytesFromPeers: 20, piecesServed: 1 } } }), { fromSeed: 10, fromPeers: 20 });
  assert.deepEqual(blobBytes({ swarm: [{ other: 1 }, { bytesFromSeed: 0, bytesFromPeers: 7 }] }), { fromSeed: 0, fromPeers: 7 });
  assert.equal(blobBytes({ name: 'm', status: { state: 'provisioned' } }), undefined);
  assert.equal(blobBytes({ metrics: { bytesFromSeed: '10', bytesFromPeers: 2 } }), undefined);
  assert.equal(blobBytes(undefined), undefined);
  assert.equal(blobBytes({ a: { b: { c: { d: { e: { f: { bytesFromSeed: 1, bytesFromPeers: 1 } } } } } } }), undefined, 'deeper than the search goes');
});

test('stepTimings: a step lasts until the next one starts; ordered by seq; the last step ends at its last entry', () => {
  const at = (s: number): string => new Date(T0 + s * 1000).toISOString();
  const entries = [
    { seq: 3, step: 'partition', state: 'done', time: at(12) },
    { seq: 1, step: 'plan', state: 'running', time: at(0) },
    { seq: 2, step: 'partition', state: 'running', time: at(2) },
    { seq: 4, step: 'os', state: 'running', time: at(13), percent: 0 },
    { seq: 5, step: 'os', state: 'running', time: at(200), percent: 50 },
    { seq: 6, step: 'os', state: 'done', time: at(400) },
    { seq: 7, step: 'bootloader', state: 'done', time: at(450) },
    { seq: 8, step: 'done', state: 'complete', time: at(451) },
    { seq: 9, step: 'bad', state: 'running', time: 'not a time' },
  ];
  const steps = stepTimings(entries);
  assert.deepEqual(steps.map((s) => [s.step, (s.end - s.start) / 1000, s.state]), [
    ['plan', 2, 'running'], ['partition', 11, 'done'], ['os', 437, 'done'], ['bootloader', 1, 'done'], ['done', 0, 'complete'],
  ]);
  const text = renderStepTimings(steps);
  assert.match(text, /^ {2}os +437\.0 s {2}done$/m);
  assert.match(text, /\(agent total\) +451\.0 s$/m);
  assert.equal(renderStepTimings([]), '  (no progress entries)\n');
});

test('progressAction: assign once on inspected/ready; provisioned and failed end the machine', () => {
  const row = (state: string, extra: object = {}) => ({ machine: 'm-1', state, ...extra });
  assert.deepEqual(progressAction(row('inspected'), false), { kind: 'assign' });
  assert.deepEqual(progressAction(row('ready'), false), { kind: 'assign' });
  assert.equal(progressAction(row('inspected'), true), undefined);
  assert.equal(progressAction(row('discovered'), false), undefined);
  assert.equal(progressAction(row('provisioning', { step: 'os', progress: 40 }), true), undefined);
  assert.deepEqual(progressAction(row('provisioned'), true), { kind: 'done', result: 'provisioned' });
  assert.deepEqual(progressAction(row('failed', { error: 'E_X: boom' }), true), { kind: 'done', result: 'failed', error: 'E_X: boom' });
});

test('parseWatchLines: complete JSON rows only, the partial tail kept for the next chunk', () => {
  const a = parseWatchLines('{"machine":"m-1","state":"discovered"}\nnot json\n{"machine":"m-1","sta');
  assert.deepEqual(a.rows, [{ machine: 'm-1', state: 'discovered' }]);
  const b = parseWatchLines(`${a.rest}te":"provisioning","step":"os","progress":12}\n{"no":"machine"}\n`);
  assert.deepEqual(b.rows, [{ machine: 'm-1', state: 'provisioning', step: 'os', progress: 12 }]);
  assert.equal(b.rest, '');
});

test('ProgressView without a terminal: one line per change, throttled to label changes and 10-point steps', () => {
  const out: string[] = [];
  const stream = { isTTY: false, write: (s: string) => out.push(s) } as unknown as NodeJS.WriteStream;
  const view = new ProgressView({ stream, throttle: true, extra: () => '3 s' });
  view.reserve(['m-525400de0001']);
  for (const p of [0, 3, 9, 10, 15, 20]) view.show({ machine: 'm-525400de0001', state: 'provisioning', step: 'os', progress: p });
  view.show({ machine: 'm-525400de0001', state: 'provisioned' });
  view.stop();
  assert.deepEqual(out, [
    'm-525400de0001    0%  provisioning  os  3 s\n',
    'm-525400de0001   10%  provisioning  os  3 s\n',
    'm-525400de0001   20%  provisioning  os  3 s\n',
    'm-525400de0001  100%  provisioned  3 s\n',
  ]);
  assert.equal(progressLabel({ machine: 'x', state: 'failed', step: 'os', error: 'E_X: y' }), 'failed  os  E_X: y');
  assert.equal(progressValue({ machine: 'x', state: 'provisioning', progress: 33.6 }), 34);
});
