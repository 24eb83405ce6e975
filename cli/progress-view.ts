// Live progress of machines for people: one bar per machine with its state and current step on a
// terminal (cli-progress), plain lines otherwise. Used by `lpmos watch` and `lpmos demo`.
import cliProgress from 'cli-progress';
import type { MachineProgress } from './commands/watch.ts';

export function progressLabel(r: MachineProgress): string {
  return [r.state, r.step, r.error].filter(Boolean).join('  ');
}

/** Bar value: the current step's percent, 100 once provisioned. */
export function progressValue(r: MachineProgress): number {
  return r.state === 'provisioned' ? 100 : Math.round(r.progress ?? 0);
}

export interface ProgressViewOptions {
  stream?: NodeJS.WriteStream;
  /** Bars (default: when the stream is a terminal). */
  bars?: boolean;
  /** Without bars, print a line only when the label changes or the percent moves ≥ 10 (default: every change). */
  throttle?: boolean;
  /** More text after the label (e.g. time since power-on). */
  extra?: (r: MachineProgress) => string | undefined;
}

export class ProgressView {
  readonly #stream: NodeJS.WriteStream;
  readonly #multi: cliProgress.MultiBar | undefined;
  readonly #bars = new Map<string, cliProgress.SingleBar>();
  readonly #last = new Map<string, { label: string; value: number }>();
  readonly #opts: ProgressViewOptions;
  #width = 8;

  constructor(opts: ProgressViewOptions = {}) {
    this.#opts = opts;
    this.#stream = opts.stream ?? process.stdout;
    this.#multi = (opts.bars ?? this.#stream.isTTY)
      ? new cliProgress.MultiBar({ format: '{machine} [{bar}] {percentage}% | {label}', hideCursor: true, clearOnComplete: false, autopadding: true, stream: this.#stream }, cliProgress.Presets.shades_classic)
      : undefined;
  }

  /** Widens the machine column for names known in advance (keeps the bars aligned). */
  reserve(names: readonly string[]): void {
    this.#width = Math.max(this.#width, ...names.map((n) => n.length));
  }

  show(row: MachineProgress): void {
    this.#width = Math.max(this.#width, row.machine.length);
    const extra = this.#opts.extra?.(row);
    const label = extra ? `${progressLabel(row)}  ${extra}` : progressLabel(row);
    const value = progressValue(row);
    const payload = { machine: row.machine.padEnd(this.#width), label };
    if (!this.#multi) {
      const last = this.#last.get(row.machine);
      const same = last && last.label === progressLabel(row) && Math.floor(last.value / 10) === Math.floor(value / 10);
      if (this.#opts.throttle && same) return;
      this.#last.set(row.machine, { label: progressLabel(row), value });
      this.#stream.write(`${payload.machine}  ${String(value).padStart(3)}%  ${label}\n`);
      return;
    }
    const b = this.#bars.get(row.machine);
    if (b) b.update(value, payload);
    else this.#bars.set(row.machine, this.#multi.create(100, value, payload));
  }

  /** A line of text above the bars (on a terminal cli-progress redraws them below it). */
  log(line: string): void {
    if (this.#multi) this.#multi.log(line.endsWith('\n') ? line : `${line}\n`);
    else this.#stream.write(line.endsWith('\n') ? line : `${line}\n`);
  }

  remove(machine: string): void {
    const b = this.#bars.get(machine);
    if (b) this.#multi?.remove(b);
    this.#bars.delete(machine);
    this.#last.delete(machine);
  }

  /** Leaves the bars as they are on screen and restores the cursor. */
  stop(): void {
    this.#multi?.stop();
  }
}
