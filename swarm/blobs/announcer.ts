// Announcing what we hold on `lpmos/<site>/blobs/have` and listening to others' announcements
// into the holder index. A new piece is announced within `pieceDelayMs` (250 ms; coalesced per blob: one
// message per blob per interval, however many pieces arrived), a completed blob at once, an
// evicted one as `gone`, and everything held again every `everyMs` (new peers, lost messages).
import { TopicValidatorResult, type GossipSub, type Message } from '@libp2p/gossipsub';
import type { PeerId } from '@libp2p/interface';
import type { Logger } from '../../core/log.ts';
import type { BlobState, PieceStore, StoreEvent } from './api.ts';
import { decodeHave, encodeBits, encodeHave, haveTopic, MAX_HAVE_BLOBS, type HaveMessage } from './have.ts';
import type { HolderIndex } from './holders.ts';

export interface AnnouncerDeps {
  pubsub: GossipSub;
  site: string;
  store: PieceStore;
  index: HolderIndex;
  /** Where others reach us (read at every message: addresses may change). */
  where: () => { addrs: string[]; http?: string | undefined };
  /** Announce our blobs (false on the seed: it is the fallback, not a holder). */
  announce: boolean;
  log: Logger;
  pieceDelayMs?: number;
  everyMs?: number;
  /** Pieces of a blob this node is fetching from the seed now (announced as `fetching`). */
  fetching?: (sha256: string) => Uint8Array | undefined;
  /** Authors whose announcements count (the enrolled peers); default everyone gossip delivers. */
  allowed?: (peerId: string) => boolean;
  /** Called for every accepted announcement (e.g. to connect to the holder). */
  onHolder?: (peerId: string, addrs: string[]) => void;
}

export class HaveAnnouncer {
  readonly topic: string;
  readonly stats = { sent: 0, received: 0, rejected: 0, publishErrors: 0 };
  #d: AnnouncerDeps;
  #pending = new Set<string>();
  #gone = new Set<string>();
  #timer: NodeJS.Timeout | undefined;
  #every: NodeJS.Timeout | undefined;
  #off: (() => void) | undefined;

  constructor(deps: AnnouncerDeps) {
    this.#d = deps;
    this.topic = haveTopic(deps.site);
  }

  /** Our have message for these blobs (those we hold), for a have? query. */
  haveFor(blobs: string[]): HaveMessage {
    const states = blobs.flatMap((s) => {
      const st = this.#d.store.get(s);
      return st && this.#worth(st) ? [st] : [];
    });
    return this.#message(states.slice(0, MAX_HAVE_BLOBS), []);
  }

  /** A blob is announced once it has a piece or a piece is being fetched from the seed. */
  #worth(st: BlobState): boolean {
    return st.count > 0 || this.#d.fetching?.(st.manifest.sha256) !== undefined;
  }

  #message(states: BlobState[], gone: string[]): HaveMessage {
    const w = this.#d.where();
    return {
      v: 1,
      addrs: w.addrs.slice(0, 16),
      ...(w.http ? { http: w.http } : {}),
      blobs: states.map((s) => {
        const fetching = s.complete ? undefined : this.#d.fetching?.(s.manifest.sha256);
        return { sha256: s.manifest.sha256, pieces: s.manifest.pieces.length, have: encodeBits(s.have, s.manifest.pieces.length, s.complete), ...(fetching ? { fetching: Buffer.from(fetching).toString('base64') } : {}) };
      }),
      ...(gone.length > 0 ? { gone } : {}),
    };
  }

  readonly #validate = (_from: PeerId, msg: Message): TopicValidatorResult => {
    if (msg.type !== 'signed') return TopicValidatorResult.Reject;
    if (this.#d.allowed && !this.#d.allowed(msg.from.toString())) return TopicValidatorResult.Reject;
    return decodeHave(msg.data).ok ? TopicValidatorResult.Accept : TopicValidatorResult.Reject;
  };

  readonly #onMessage = (evt: CustomEvent<Message>): void => {
    const msg = evt.detail;
    if (msg.topic !== this.topic) return;
    if (msg.type !== 'signed') return;
    if (this.#d.allowed && !this.#d.allowed(msg.from.toString())) return;
    const r = decodeHave(msg.data);
    if (!r.ok) {
      this.stats.rejected++;
      return;
    }
    this.stats.received++;
    this.#d.index.update(msg.from.toString(), { addrs: r.msg.addrs, http: r.msg.http }, r.blobs, r.msg.gone ?? []);
    this.#d.onHolder?.(msg.from.toString(), r.msg.addrs);
  };

  readonly #onStore = (ev: StoreEvent): void => {
    if (!this.#d.announce) return;
    if (ev.type === 'removed') {
      this.#pending.delete(ev.sha256);
      this.#gone.add(ev.sha256);
      this.#schedule(0);
    } else {
      this.#pending.add(ev.sha256);
      this.#schedule(ev.type === 'complete' ? 0 : (this.#d.pieceDelayMs ?? 250));
    }
  };

  #schedule(ms: number): void {
    if (this.#timer && ms > 0) return;
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.flush();
    }, ms);
    this.#timer.unref();
  }

  /** Announces a blob's state soon (`now`: at once — a claim on a seed piece must travel fast). */
  changed(sha256: string, now = false): void {
    if (!this.#d.announce) return;
    this.#pending.add(sha256);
    this.#schedule(now ? 0 : (this.#d.pieceDelayMs ?? 250));
  }

  /** Publishes pending announcements now. */
  flush(): void {
    const states = [...this.#pending].flatMap((s) => {
      const st = this.#d.store.get(s);
      return st ? [st] : [];
    });
    const gone = [...this.#gone];
    this.#pending.clear();
    this.#gone.clear();
    this.#publish(states, gone);
  }

  /** Announces everything held. */
  announceAll(): void {
    if (!this.#d.announce) return;
    this.#publish(
      this.#d.store.list().filter((s) => this.#worth(s)),
      [],
    );
  }

  #publish(states: BlobState[], gone: string[]): void {
    for (let i = 0; i < Math.max(states.length, gone.length); i += MAX_HAVE_BLOBS) {
      const msg = this.#message(states.slice(i, i + MAX_HAVE_BLOBS), gone.slice(i, i + MAX_HAVE_BLOBS));
      this.stats.sent++;
      this.#d.pubsub.publish(this.topic, encodeHave(msg)).catch((e: unknown) => {
        this.stats.publishErrors++;
        this.#d.log.debug({ err: (e as Error).message }, 'have announcement not published');
      });
    }
  }

  start(): void {
    this.#d.pubsub.topicValidators.set(this.topic, this.#validate);
    this.#d.pubsub.addEventListener('message', this.#onMessage);
    this.#d.pubsub.subscribe(this.topic);
    this.#off = this.#d.store.on(this.#onStore);
    this.#every = setInterval(() => this.announceAll(), this.#d.everyMs ?? 10_000);
    this.#every.unref();
  }

  stop(): void {
    clearTimeout(this.#timer);
    clearInterval(this.#every);
    this.#off?.();
    this.#d.pubsub.unsubscribe(this.topic);
    this.#d.pubsub.removeEventListener('message', this.#onMessage);
    this.#d.pubsub.topicValidators.delete(this.topic);
  }
}
