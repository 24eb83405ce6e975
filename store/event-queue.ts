// An unbounded push → pull queue behind a store watch: the producer (etcd stream or memory
// cluster) pushes, the consumer iterates with for-await. Backpressure is advisory: the producer
// may pause above `highWater` and is told to resume (onDrain) once the consumer caught up.

export class EventQueue<T> implements AsyncIterable<T> {
  #items: (T | undefined)[] = [];
  #head = 0;
  #wake: (() => void) | undefined;
  #ended = false;
  #error: unknown = undefined;
  #failed = false;
  #iterated = false;
  readonly #onClose: () => void;
  readonly #highWater: number;
  #paused = false;
  onPause: (() => void) | undefined;
  onDrain: (() => void) | undefined;

  /** `onClose` runs once when the consumer stops (end, error, break, abort). */
  constructor(onClose: () => void, highWater = 10_000) {
    this.#onClose = onClose;
    this.#highWater = highWater;
  }

  get size(): number {
    return this.#items.length - this.#head;
  }

  /** True between onPause and onDrain. */
  get paused(): boolean {
    return this.#paused;
  }

  get closed(): boolean {
    return this.#ended || this.#failed;
  }

  push(item: T): void {
    if (this.closed) return;
    this.#items.push(item);
    if (!this.#paused && this.size >= this.#highWater && this.onPause) {
      this.#paused = true;
      this.onPause();
    }
    this.#notify();
  }

  /** Normal end: the consumer gets the queued items, then `done`. */
  end(): void {
    if (this.closed) return;
    this.#ended = true;
    this.#notify();
  }

  /** The consumer's signal aborted: drop what is queued, deliver nothing more. */
  abort(): void {
    this.#items = [];
    this.#head = 0;
    this.#ended = true;
    this.#notify();
  }

  /** Fatal error: the consumer gets the queued items, then the error is thrown. */
  fail(error: unknown): void {
    if (this.closed) return;
    this.#failed = true;
    this.#error = error;
    this.#notify();
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<T> {
    if (this.#iterated) throw new Error('a watch can be iterated once');
    this.#iterated = true;
    try {
      for (;;) {
        if (this.#head < this.#items.length) {
          const item = this.#items[this.#head] as T;
          this.#items[this.#head] = undefined;
          this.#head++;
          if (this.#head > 4096 && this.#head * 2 > this.#items.length) {
            this.#items = this.#items.slice(this.#head);
            this.#head = 0;
          }
          if (this.#paused && this.size <= this.#highWater / 2) {
            this.#paused = false;
            this.onDrain?.();
          }
          yield item;
          continue;
        }
        if (this.#failed) throw this.#error;
        if (this.#ended) return;
        await new Promise<void>((resolve) => {
          this.#wake = resolve;
        });
      }
    } finally {
      this.#ended = true;
      this.#items = [];
      this.#head = 0;
      this.#onClose();
    }
  }
}
