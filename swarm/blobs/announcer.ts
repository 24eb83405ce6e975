// Announcing what we hold on `lpmos/<site>/blobs/have` and listening to others' announcements
// into the holder index. New pieces and completed blobs are announced within `pieceDelayMs`
// (250 ms; coalesced: one message per interval, however many pieces and blobs arrived — a crowd
// fetching hundreds of small files announced each completion alone, N² deliveries each), a claim
// on a seed piece at once (it must travel fast to stop others fetching that piece too), an evicted
// blob as `gone`, and, checked every `everyMs`, each blob not announced for `refreshMs` (default
// 3 × everyMs, under the holder index's 60 s TTL: new peers, lost messages). A blob announced
// recently is not repeated: every announcement is signed, flooded to every agent and checked by
// each, so repeating unchanged blobs every 10 s cost CPU that fetching needed (issue 7,
// bench:swarm). A newcomer asks have? of its peers (discover.ts).
import { TopicValidatorResult, type GossipSub, type Message } from '@libp2p/gossipsub';
import type { PeerId } from '@libp2p/interface';
import type { Logger } from '../../core/log.ts';
import type { BlobState, PieceStore, StoreEvent } from './api.ts';
import { decodeHave, encodeBits, encodeHave, haveTopic, MAX_HAVE_BLOBS, type HaveDecode, type HaveMessage } from './have.ts';
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
  /** A held blob is re-announced when its last announcement is this old, ms (default 3 × everyMs). */
  refreshMs?: number;
  /** Pieces of a blob this node is fetching from the seed now (announced as `fetching`). */
  fetching?: (sha256: string) => Uint8Array | undefined;
  /** Authors whose announcements count (the enrolled peers); default everyone gossip delivers. */
  allowed?: (peerId: string) => boolean;
  /**
   * Tracker mode: announcements go to the tracker (the seed) with this, not on gossip. One push is
   * in flight at a time; what changes meanwhile goes in the next (so the tracker sees them in order).
   */
  push?: (bytes: Uint8Array) => Promise<void>;
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
  /** Announcements the topic validator decoded, for the message event that follows. */
  #decoded = new WeakMap<Message, HaveDecode>();
  /** When each blob was last announced (ms). */
  #lastSent = new Map<string, number>();
  #pushing = false;
  #pushAgain = false;

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
    const r = decodeHave(msg.data);
    if (r.ok) this.#decoded.set(msg, r);
    return r.ok ? TopicValidatorResult.Accept : TopicValidatorResult.Reject;
  };

  readonly #onMessage = (evt: CustomEvent<Message>): void => {
    const msg = evt.detail;
    if (msg.topic !== this.topic) return;
    if (msg.type !== 'signed') return;
    if (this.#d.allowed && !this.#d.allowed(msg.from.toString())) return;
    // The validator decoded it already (the event carries the same object): JSON + schema once.
    const r = this.#decoded.get(msg) ?? decodeHave(msg.data);
    this.#decoded.delete(msg);
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
      this.#lastSent.delete(ev.sha256);
      this.#gone.add(ev.sha256);
      this.#schedule(0);
    } else {
      this.#pending.add(ev.sha256);
      this.#schedule(this.#d.pieceDelayMs ?? 250);
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

  /** Announces the held blobs whose last announcement is older than `refreshMs`. */
  refresh(now = Date.now()): void {
    if (!this.#d.announce) return;
    const refreshMs = this.#d.refreshMs ?? 3 * (this.#d.everyMs ?? 10_000);
    this.#publish(
      this.#d.store.list().filter((s) => this.#worth(s) && now - (this.#lastSent.get(s.manifest.sha256) ?? -Infinity) >= refreshMs),
      [],
    );
  }

  #publish(states: BlobState[], gone: string[]): void {
    if (this.#d.push) {
      this.#push(states, gone);
      return;
    }
    const now = Date.now();
    for (const s of states) this.#lastSent.set(s.manifest.sha256, now);
    for (let i = 0; i < Math.max(states.length, gone.length); i += MAX_HAVE_BLOBS) {
      const msg = this.#message(states.slice(i, i + MAX_HAVE_BLOBS), gone.slice(i, i + MAX_HAVE_BLOBS));
      this.stats.sent++;
      this.#d.pubsub.publish(this.topic, encodeHave(msg)).catch((e: unknown) => {
        this.stats.publishErrors++;
        this.#d.log.debug({ err: (e as Error).message }, 'have announcement not published');
      });
    }
  }

  #push(states: BlobState[], gone: string[]): void {
    const push = this.#d.push!;
    if (this.#pushing) {
      for (const s of states) this.#pending.add(s.manifest.sha256);
      for (const g of gone) this.#gone.add(g);
      this.#pushAgain = true;
      return;
    }
    if (states.length === 0 && gone.length === 0) return;
    const now = Date.now();
    for (const s of states) this.#lastSent.set(s.manifest.sha256, now);
    const sends: Promise<void>[] = [];
    for (let i = 0; i < Math.max(states.length, gone.length); i += MAX_HAVE_BLOBS) {
      this.stats.sent++;
      sends.push(push(encodeHave(this.#message(states.slice(i, i + MAX_HAVE_BLOBS), gone.slice(i, i + MAX_HAVE_BLOBS)))));
    }
    this.#pushing = true;
    void Promise.all(sends)
      .catch((e: unknown) => {
        // The tracker missed it: send it again soon (a restarting seed, a broken connection).
        this.stats.publishErrors++;
        this.#d.log.debug({ err: (e as Error).message }, 'have announcement not pushed to the tracker');
        for (const s of states) this.#pending.add(s.manifest.sha256);
        for (const g of gone) this.#gone.add(g);
        this.#schedule(1000);
      })
      .finally(() => {
        this.#pushing = false;
        if (this.#pushAgain) {
          this.#pushAgain = false;
          this.flush();
        }
      });
  }

  start(): void {
    this.#d.pubsub.topicValidators.set(this.topic, this.#validate);
    this.#d.pubsub.addEventListener('message', this.#onMessage);
    this.#d.pubsub.subscribe(this.topic);
    this.#off = this.#d.store.on(this.#onStore);
    this.#every = setInterval(() => this.refresh(), this.#d.everyMs ?? 10_000);
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
