import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { LpmosError } from '../../core/errors.ts';
import { Keys } from '../../core/keys.ts';
import { StoreCheckpoint } from '../../installers/checkpoint.ts';
import type { StepProgress } from '../../installers/executor.ts';
import type { Check, Facts, Step } from '../../installers/plan/types.ts';
import { planId, runPlan, type ProgressEvent, type StepExecutor } from '../../installers/runner.ts';
import { MemoryStore } from '../../store/memory.ts';

const keys = new Keys();
const noFacts = async (): Promise<Facts> => ({ uuids: { '/dev/x': 'u' }, efivars: false });

/** A machine in miniature: steps "run" by changing a set of present effects; checks read it. */
class FakeMachine implements StepExecutor {
  effects = new Set<string>();
  ran: string[] = [];
  failAt: string | undefined;
  factsSeen: Record<string, Facts> = {};
  check(c: Check): Promise<boolean> {
    assert.ok(c.kind === 'exists');
    return Promise.resolve(this.effects.has(c.path));
  }
  async runStep(step: Step, facts: Facts, signal: AbortSignal, progress: (p: StepProgress) => void): Promise<void> {
    this.ran.push(step.id);
    this.factsSeen[step.id] = facts;
    progress({ percent: 50, message: `half of ${step.id}` });
    if (this.failAt === step.id) {
      await new Promise((r) => setTimeout(r, 5));
      signal.throwIfAborted();
      throw new LpmosError('E_INTERNAL', `${step.id} broke`);
    }
    this.effects.add(step.id);
  }
}

function steps(): Step[] {
  const s = (id: string, kind: Step['kind'], extra: Partial<Step> = {}): Step => ({ id, kind, title: id, actions: () => [], ...extra });
  return [
    s('check-disks', 'check-disks'),
    s('partition:d0', 'partition', { check: { kind: 'exists', path: 'partition:d0' } }),
    s('mkfs:root', 'mkfs'),
    s('mount', 'mount', { volatile: true, check: { kind: 'exists', path: 'mount' } }),
    s('os', 'os', { check: { kind: 'exists', path: 'os' } }),
    s('configure', 'configure', { chroot: true }),
    s('bootloader', 'bootloader', { chroot: true }),
    s('unmount', 'unmount', { volatile: true }),
    s('done', 'done'),
  ];
}

describe('install runner', () => {
  it('runs every step in order, checkpointing each, and reports start/progress/done', async () => {
    const store = new MemoryStore();
    const m = new FakeMachine();
    const events: ProgressEvent[] = [];
    const r = await runPlan({ steps: steps(), executor: m, checkpoint: new StoreCheckpoint(store, keys, 'web-01'), facts: noFacts, onProgress: (e) => events.push(e) }, AbortSignal.timeout(5000));
    assert.deepEqual(r.ran, steps().map((s) => s.id));
    assert.deepEqual(events.filter((e) => e.step === 'os').map((e) => e.state), ['start', 'progress', 'done']);
    assert.equal(events.find((e) => e.step === 'os' && e.state === 'progress')?.percent, 50);
    const saved = JSON.parse((await store.get(keys.plan('web-01')))?.value ?? '{}') as { step: string; done: string[]; plan: string };
    assert.deepEqual(saved.done, steps().map((s) => s.id));
    assert.equal(saved.plan, planId(steps()));
    assert.deepEqual(m.factsSeen.configure?.uuids, { '/dev/x': 'u' }, 'configure gets facts');
    assert.deepEqual(m.factsSeen.mkfs?.uuids ?? m.factsSeen['mkfs:root']?.uuids, {}, 'steps before mkfs do not probe');
  });

  it('after a failure, a new runner (restarted agent) resumes: finished steps skipped, volatile ones redone', async () => {
    const store = new MemoryStore();
    const m = new FakeMachine();
    m.failAt = 'configure';
    const events: ProgressEvent[] = [];
    await assert.rejects(runPlan({ steps: steps(), executor: m, checkpoint: new StoreCheckpoint(store, keys, 'web-01'), facts: noFacts, onProgress: (e) => events.push(e) }, AbortSignal.timeout(5000)), /configure broke/);
    assert.deepEqual(events.at(-1), { step: 'configure', state: 'failed', message: 'E_INTERNAL: configure broke' });
    // The agent restarts: mounts are gone, the disks keep what was written.
    m.effects.delete('mount');
    m.failAt = undefined;
    m.ran = [];
    const r = await runPlan({ steps: steps(), executor: m, checkpoint: new StoreCheckpoint(store, keys, 'web-01'), facts: noFacts }, AbortSignal.timeout(5000));
    assert.deepEqual(r.skipped, ['check-disks', 'partition:d0', 'mkfs:root', 'os']);
    assert.deepEqual(m.ran, ['mount', 'configure', 'bootloader', 'unmount', 'done']);
  });

  it('an abort stops the running step, reports it failed, and the next run resumes there', async () => {
    const store = new MemoryStore();
    const m = new FakeMachine();
    m.failAt = 'os';
    const ac = new AbortController();
    const events: ProgressEvent[] = [];
    const run = runPlan({ steps: steps(), executor: m, checkpoint: new StoreCheckpoint(store, keys, 'm'), facts: noFacts, onProgress: (e) => { events.push(e); if (e.step === 'os' && e.state === 'progress') ac.abort(new Error('agent stopping')); } }, ac.signal);
    await assert.rejects(run, /agent stopping/);
    assert.match(events.at(-1)?.message ?? '', /^stopped: agent stopping/);
    m.failAt = undefined;
    m.ran = [];
    const r = await runPlan({ steps: steps(), executor: m, checkpoint: new StoreCheckpoint(store, keys, 'm'), facts: noFacts }, AbortSignal.timeout(5000));
    assert.deepEqual(m.ran, ['os', 'configure', 'bootloader', 'unmount', 'done'], 'mount still holds (same kernel): not redone');
    assert.ok(r.skipped.includes('mount'));
  });

  it('a step whose effect is present (killed after it finished, before the checkpoint) is skipped by its check', async () => {
    const m = new FakeMachine();
    m.effects.add('partition:d0');
    const r = await runPlan({ steps: steps(), executor: m, checkpoint: new StoreCheckpoint(new MemoryStore(), keys, 'm'), facts: noFacts }, AbortSignal.timeout(5000));
    assert.ok(r.skipped.includes('partition:d0'));
    assert.ok(!m.ran.includes('partition:d0'));
  });

  it('a finished plan is not run again; a checkpoint of another plan is not resumed', async () => {
    const store = new MemoryStore();
    const m = new FakeMachine();
    await runPlan({ steps: steps(), executor: m, checkpoint: new StoreCheckpoint(store, keys, 'm'), facts: noFacts }, AbortSignal.timeout(5000));
    m.ran = [];
    const again = await runPlan({ steps: steps(), executor: m, checkpoint: new StoreCheckpoint(store, keys, 'm'), facts: noFacts }, AbortSignal.timeout(5000));
    assert.deepEqual(m.ran, []);
    assert.equal(again.skipped.length, steps().length);
    const other = steps().map((s) => (s.id === 'os' ? { ...s, title: 'debootstrap trixie' } : s));
    m.effects.clear();
    await runPlan({ steps: other, executor: m, checkpoint: new StoreCheckpoint(store, keys, 'm'), facts: noFacts }, AbortSignal.timeout(5000));
    assert.deepEqual(m.ran, other.map((s) => s.id));
  });

  it('two agents for one machine: the stale one is stopped by compare-and-swap', async () => {
    const store = new MemoryStore();
    const a = new StoreCheckpoint(store, keys, 'm');
    const b = new StoreCheckpoint(store, keys, 'm');
    const signal = AbortSignal.timeout(5000);
    await a.load(signal);
    await b.load(signal);
    await a.save({ step: 'check-disks', done: ['check-disks'] }, signal);
    await assert.rejects(b.save({ step: 'check-disks', done: [] }, signal), (e: unknown) => e instanceof LpmosError && e.code === 'E_CONFLICT');
    await a.save({ step: 'partition:d0', done: ['check-disks', 'partition:d0'] }, signal);
    assert.deepEqual((await b.load(signal))?.done, ['check-disks', 'partition:d0']);
  });

  it('a throwing progress listener does not stop the install', async () => {
    const m = new FakeMachine();
    const r = await runPlan({ steps: steps(), executor: m, checkpoint: new StoreCheckpoint(new MemoryStore(), keys, 'm'), facts: noFacts, onProgress: () => { throw new Error('listener bug'); } }, AbortSignal.timeout(5000));
    assert.equal(r.ran.length, steps().length);
  });
});
