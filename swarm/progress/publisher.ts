// The agent side of progress (issue 6): numbers events per machine, publishes them on the site's
// topic, keeps each until the seed acknowledges it (the seq folded into etcd, see reporter.ts) and
// publishes again what is still unacknowledged after `resendAfterMs` — so events survive a short
// partition or a seed restart. Resending is windowed and backs off: the oldest `resendWindow`
// events per round (the seed applies in seq order, so later ones are useless before them), and the
// interval doubles up to `maxResendMs` while no acknowledgement moves — a long partition must not
// turn every agent into a signing loop (an Ed25519 signature or verification costs ~1 ms of CPU).
// Percent ticks of one step are throttled to one per `throttleMs` (the latest wins; 1 s keeps a
// 1000-machine site under ~1000 verifications/s at the seed); state changes go out at once.
import type { GossipSub } from '@libp2p/gossipsub';
import { silentLogger, type Logger } from '../../core/log.ts';
import { clampMessage, encodeEvent, type EventState, type ProgressEvent } from './event.ts';

export interface ProgressInput {
  step: string;
  state: EventState;
  percent?: number;
  bytes?: number;
  message?: string;
  code?: string;
}

export interface PublisherOptions {
  pubsub: Pick<GossipSub, 'publish'>;
  topic: string;
  machine: string;
  /** First seq to use: one more than the seq the seed last acknowledged. */
  firstSeq?: number;
  resendAfterMs?: number;
  /** Upper bound of the backed-off resend interval, ms. */
  maxResendMs?: number;
  /** Events resent per round. */
  resendWindow?: number;
  throttleMs?: number;
  /** Unacknowledged events kept; beyond it the oldest are dropped (the seed skips the gap). */
  maxUnacked?: number;
  logger?: Logger;
  now?: () => number;
}

export interface PublisherStats {
  published: number;
  resent: number;
  publishErrors: number;
  dropped: number;
  throttled: number;
}

interface Outgoing {
  event: ProgressEvent;
  data: Uint8Array;
  sentAt: number;
}

export class ProgressPublisher {
  readonly stats: PublisherStats = { published: 0, resent: 0, publishErrors: 0, dropped: 0, throttled: 0 };
  readonly #o: Required<Omit<PublisherOptions, 'logger' | 'firstSeq'>> & { log: Logger };
  #nextSeq: number;
  readonly #unacked = new Map<number, Outgoing>();
  #held: ProgressInput | undefined;
  #heldTimer: NodeJS.Timeout | undefined;
  #lastTick = { step: '', at: -Infinity };
  #resendTimer: NodeJS.Timeout | undefined;
  /** Current resend interval: resendAfterMs, doubled per fruitless round up to maxResendMs. */
  #resendMs: number;

  constructor(opts: PublisherOptions) {
    this.#o = { resendAfterMs: 2000, maxResendMs: 30_000, resendWindow: 32, throttleMs: 1000, maxUnacked: 2000, now: Date.now, ...opts, log: opts.logger ?? silentLogger() };
    this.#resendMs = this.#o.resendAfterMs;
    this.#nextSeq = opts.firstSeq ?? 1;
  }

  get nextSeq(): number {
    return this.#nextSeq;
  }

  /** Seqs published but not acknowledged yet, in order. */
  unacked(): number[] {
    return [...this.#unacked.keys()];
  }

  start(): void {
    if (this.#resendTimer) return;
    this.#resendTimer = setInterval(() => this.#resend(), Math.max(25, this.#o.resendAfterMs / 4));
    this.#resendTimer.unref();
  }

  /** Sends a throttled tick now (before shutting down). */
  flush(): void {
    this.#sendHeld();
  }

  /** Sends a held tick, stops resending. Unacknowledged events are kept (start() resumes). */
  stop(): void {
    this.#sendHeld();
    clearInterval(this.#resendTimer);
    this.#resendTimer = undefined;
  }

  report(input: ProgressInput): void {
    const now = this.#o.now();
    if (input.state === 'running' && input.message === undefined && input.step === this.#lastTick.step && now - this.#lastTick.at < this.#o.throttleMs) {
      if (this.#held) this.stats.throttled++;
      this.#held = input;
      this.#heldTimer ??= setTimeout(() => this.#sendHeld(), this.#lastTick.at + this.#o.throttleMs - now);
      return;
    }
    // A state change makes a held tick of the same step stale; a tick of another step is sent first.
    if (this.#held && (input.state === 'running' || input.step !== this.#held.step)) this.#sendHeld();
    else this.#dropHeld();
    this.#send(input, now);
  }

  /** The seed has folded every event up to `seq` into etcd. */
  ack(seq: number): void {
    let progressed = false;
    for (const s of this.#unacked.keys()) {
      if (s > seq) break;
      this.#unacked.delete(s);
      progressed = true;
    }
    if (progressed) this.#resendMs = this.#o.resendAfterMs;
  }

  #dropHeld(): void {
    if (this.#held) this.stats.throttled++;
    this.#held = undefined;
    clearTimeout(this.#heldTimer);
    this.#heldTimer = undefined;
  }

  #sendHeld(): void {
    const held = this.#held;
    this.#held = undefined;
    clearTimeout(this.#heldTimer);
    this.#heldTimer = undefined;
    if (held) this.#send(held, this.#o.now());
  }

  #send(input: ProgressInput, now: number): void {
    const event: ProgressEvent = {
      machine: this.#o.machine,
      seq: this.#nextSeq,
      step: input.step,
      state: input.state,
      ...(input.percent !== undefined ? { percent: Math.min(100, Math.max(0, input.percent)) } : {}),
      ...(input.bytes !== undefined ? { bytes: Math.max(0, Math.round(input.bytes)) } : {}),
      ...(input.message !== undefined ? { message: clampMessage(input.message) } : {}),
      ...(input.code !== undefined ? { code: input.code } : {}),
      time: new Date(now).toISOString(),
    };
    let data: Uint8Array;
    try {
      data = encodeEvent(event);
    } catch (e) {
      // A caller's bad step name or code: log it, never throw into the install.
      this.stats.dropped++;
      this.#o.log.warn({ err: (e as Error).message, step: input.step }, 'progress event not valid; not sent');
      return;
    }
    this.#nextSeq++;
    if (input.state === 'running') this.#lastTick = { step: input.step, at: now };
    const out: Outgoing = { event, data, sentAt: now };
    this.#unacked.set(event.seq, out);
    while (this.#unacked.size > this.#o.maxUnacked) {
      const oldest = this.#unacked.keys().next().value;
      if (oldest === undefined) break;
      this.#unacked.delete(oldest);
      this.stats.dropped++;
    }
    this.stats.published++;
    this.#publish(out);
  }

  #publish(out: Outgoing): void {
    this.#o.pubsub.publish(this.#o.topic, out.data).catch((e: unknown) => {
      this.stats.publishErrors++;
      this.#o.log.debug({ seq: out.event.seq, err: (e as Error).message }, 'progress publish failed; will resend');
    });
  }

  #resend(): void {
    const now = this.#o.now();
    let n = 0;
    let resent = false;
    for (const out of this.#unacked.values()) {
      if (n++ >= this.#o.resendWindow) break;
      if (now - out.sentAt < this.#resendMs) continue;
      out.sentAt = now;
      this.stats.resent++;
      this.#publish(out);
      resent = true;
    }
    if (resent) this.#resendMs = Math.min(this.#o.maxResendMs, this.#resendMs * 2);
  }
}
