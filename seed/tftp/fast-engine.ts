// Main-thread side of the TFTP fast path (fast-worker.ts): opens the transfer socket, hands the
// negotiated transfer to the worker and resolves when it ends. Used for files of the static root
// in octet mode, i.e. everything big; rendered menus and netascii stay on the event-loop Session.
import { Worker } from 'node:worker_threads';
import type { FastAbort, FastCancel, FastEnd, FastRetransmit, FastStart } from './fast-messages.ts';
import { loadLibc } from './libc.ts';

export class FastEngine {
  #worker: Worker | undefined;
  readonly #pending = new Map<number, (m: FastEnd) => void>();
  #nextId = 1;
  readonly #onRetransmit: (count: number) => void;

  constructor(onRetransmit: (count: number) => void) {
    this.#onRetransmit = onRetransmit;
  }

  #ensure(): Worker {
    if (this.#worker) return this.#worker;
    const w = new Worker(new URL('./fast-worker.ts', import.meta.url));
    w.on('message', (m: FastEnd | FastRetransmit) => {
      if (m.type === 'retransmit') {
        this.#onRetransmit(m.count);
        return;
      }
      const done = this.#pending.get(m.id);
      this.#pending.delete(m.id);
      done?.(m);
    });
    // A dead worker must not leave transfers hanging: they end as socket errors.
    const fail = (message: string) => {
      this.#worker = undefined;
      for (const [id, done] of this.#pending) done({ type: 'end', id, result: 'socket-error', acked: 0, retransmits: 0, dropped: 0, error: { code: 0, message } });
      this.#pending.clear();
    };
    w.on('error', (e) => fail(`fast path failed: ${e.message}`));
    w.on('exit', () => fail('fast path stopped'));
    w.unref();
    this.#worker = w;
    return w;
  }

  /** Runs one transfer; the worker owns and closes `sock`. `done` never rejects. */
  run(start: Omit<FastStart, 'type' | 'id'>): { done: Promise<FastEnd>; cancel: () => void } {
    const id = this.#nextId++;
    const cancel = (): void => {
      const msg: FastCancel = { type: 'cancel', id };
      this.#worker?.postMessage(msg);
    };
    const done = new Promise<FastEnd>((resolve) => {
      let w: Worker;
      try {
        w = this.#ensure();
      } catch (e) {
        loadLibc().close(start.sock);
        resolve({ type: 'end', id, result: 'socket-error', acked: 0, retransmits: 0, dropped: 0, error: { code: 0, message: (e as Error).message } });
        return;
      }
      this.#pending.set(id, resolve);
      w.ref(); // keep the process alive while transfers run
      const msg: FastStart = { type: 'start', id, ...start };
      w.postMessage(msg);
    }).finally(() => {
      if (this.#pending.size === 0) this.#worker?.unref();
    });
    return { done, cancel };
  }

  /** Ends every transfer with ERROR 0 `message`. */
  abortAll(message: string): void {
    const msg: FastAbort = { type: 'abort', message };
    this.#worker?.postMessage(msg);
  }

  async close(): Promise<void> {
    const w = this.#worker;
    this.#worker = undefined;
    if (w) await w.terminate();
  }
}
