// How the TFTP worker waits for the next ACK of a lock-step transfer running alone (pure: the clock
// comes in as numbers). Two ways, and which is faster depends on where the client runs:
//  - awake: poll the socket (recv with MSG_DONTWAIT) for up to spinUs. Only the client's wake-up is
//    left in a round trip; best when the client runs on another CPU (on a quiet 2-vCPU VM the
//    scheduler wakes it on the idle one, and each sleeping wake-up costs ≈ 100 µs there).
//  - asleep: block in recv(2) on the CPU the client's datagrams arrive on (affinity.ts). Best when
//    the client stays on one CPU: both then take turns on it without any cross-CPU wake-up.
// So the chooser measures: it runs `probeBlocks` ACKs awake, then as many asleep, and keeps the
// faster (awake only when it beats asleep by `margin`, as it costs a CPU) for `runBlocks` ACKs,
// then measures again. `giveUp` awake waits in a row that find no ACK end the awake probe at once
// (a slow or remote client: spinning would only burn CPU).

export type WaitMode = 'awake' | 'asleep';

export interface WaitChooserOptions {
  probeBlocks?: number;
  runBlocks?: number;
  /** Awake is chosen when its time per ACK is below asleep's times this. */
  margin?: number;
  giveUp?: number;
}

type Phase = 'probe-awake' | 'probe-asleep' | 'run';

export class WaitChooser {
  readonly #probe: number;
  readonly #run: number;
  readonly #margin: number;
  readonly #giveUp: number;
  #phase: Phase = 'probe-awake';
  #mode: WaitMode = 'awake';
  #acks = 0;
  #start = 0;
  #misses = 0;
  #awakeMs = Infinity;
  /** Times each mode was chosen for a run (for tests and the log). */
  readonly chosen = { awake: 0, asleep: 0 };

  constructor(o: WaitChooserOptions = {}) {
    this.#probe = o.probeBlocks ?? 128;
    this.#run = o.runBlocks ?? 2048;
    this.#margin = o.margin ?? 0.9;
    this.#giveUp = o.giveUp ?? 8;
  }

  get mode(): WaitMode {
    return this.#mode;
  }

  /** An awake wait ended without an ACK. */
  missed(): void {
    if (this.#mode !== 'awake' || ++this.#misses < this.#giveUp) return;
    // The client is slower than the wait: asleep is measured next, and wins.
    this.#awakeMs = Infinity;
    this.#next('probe-asleep');
  }

  /** An ACK (any datagram of the transfer) arrived at `now` ms. */
  ack(now: number, caughtAwake: boolean): void {
    if (caughtAwake) this.#misses = 0;
    if (this.#acks++ === 0) this.#start = now;
    const limit = this.#phase === 'run' ? this.#run : this.#probe;
    if (this.#acks < limit) return;
    const perAck = (now - this.#start) / Math.max(1, this.#acks - 1);
    if (this.#phase === 'probe-awake') {
      this.#awakeMs = perAck;
      this.#next('probe-asleep');
    } else if (this.#phase === 'probe-asleep') {
      this.#next('run', this.#awakeMs < perAck * this.#margin ? 'awake' : 'asleep');
    } else this.#next('probe-awake');
  }

  #next(phase: Phase, mode?: WaitMode): void {
    this.#phase = phase;
    this.#mode = phase === 'probe-awake' ? 'awake' : phase === 'probe-asleep' ? 'asleep' : mode!;
    if (phase === 'run') this.chosen[this.#mode]++;
    this.#acks = 0;
    this.#misses = 0;
  }
}
