// JSON lines on stdin/stdout between the benchmark's orchestrator and its worker processes.
import { createInterface } from 'node:readline';
import type { Command, WorkerMessage } from './proto.ts';

export function send(msg: WorkerMessage): void {
  process.stdout.write(`${JSON.stringify(msg)}\n`);
}

/** Calls `on` for every command read from stdin; `onEnd` when stdin closes (the orchestrator died). */
export function commands(on: (c: Command) => void, onEnd: () => void): void {
  const rl = createInterface({ input: process.stdin });
  rl.on('line', (line) => {
    if (line.trim()) on(JSON.parse(line) as Command);
  });
  rl.on('close', onEnd);
}

export function cpuMicros(since?: NodeJS.CpuUsage): number {
  const u = process.cpuUsage(since);
  return u.user + u.system;
}
