// Progress events (DESIGN §4, issue 6): small, sequenced, one per step change or progress tick.
// Pure codec: JSON in UTF-8, at most MAX_EVENT_BYTES, validated with a strict schema. Authenticity
// is not in the payload: gossipsub's StrictSign signs every message with the author's libp2p key
// and drops bad signatures, and the collector checks that the author is the peer id enrolled for
// `machine` (so one agent cannot speak for another).
import { z } from 'zod';
import { nameSchema, timestampSchema } from '../../core/model/common.ts';

/** Whole events above this are refused: progress is a few hundred bytes; bulk bytes never go over gossip. */
export const MAX_EVENT_BYTES = 1024;
/** 200 characters: even all 3-byte UTF-8 characters plus the longest other fields stay under 1 KiB. */
export const MAX_MESSAGE_CHARS = 200;

/**
 * `running`: a step is under way (percent/bytes may tick); `done`: the step finished; `failed`: the
 * install stopped with an error (`code`, `message`); `complete`: every step finished.
 */
export const EVENT_STATES = ['running', 'done', 'failed', 'complete'] as const;
export type EventState = (typeof EVENT_STATES)[number];

export const progressEventSchema = z.strictObject({
  machine: nameSchema,
  /** Per machine, from 1, without gaps: the collector applies events in this order, each once. */
  seq: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER),
  step: z.string().regex(/^[a-z0-9][a-z0-9._:-]{0,63}$/, 'step names are lower-case letters, digits, ".", "_", ":", "-" (at most 64)'),
  state: z.enum(EVENT_STATES),
  percent: z.number().min(0).max(100).optional(),
  bytes: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).optional(),
  message: z.string().max(MAX_MESSAGE_CHARS).optional(),
  /** Error code for `failed` (LpmosError codes, or a step's own). */
  code: z.string().regex(/^[A-Z][A-Z0-9_]{0,31}$/).optional(),
  time: timestampSchema,
});
export type ProgressEvent = z.infer<typeof progressEventSchema>;

export type DecodeResult = { ok: true; event: ProgressEvent } | { ok: false; reason: 'oversize' | 'malformed'; detail: string };

export function encodeEvent(event: ProgressEvent): Uint8Array {
  const bytes = Buffer.from(JSON.stringify(progressEventSchema.parse(event)), 'utf8');
  if (bytes.length > MAX_EVENT_BYTES) throw new RangeError(`progress event of ${bytes.length} bytes exceeds ${MAX_EVENT_BYTES}`);
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length);
}

export function decodeEvent(data: Uint8Array): DecodeResult {
  if (data.length > MAX_EVENT_BYTES) return { ok: false, reason: 'oversize', detail: `${data.length} bytes > ${MAX_EVENT_BYTES}` };
  let raw: unknown;
  try {
    raw = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(data));
  } catch (e) {
    return { ok: false, reason: 'malformed', detail: (e as Error).message };
  }
  const r = progressEventSchema.safeParse(raw);
  if (!r.success) return { ok: false, reason: 'malformed', detail: r.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ') };
  return { ok: true, event: r.data };
}

/**
 * Makes tool output fit an event: control characters (which JSON would escape to 6 bytes each)
 * become spaces, and long text is cut — never refused at the source.
 */
export function clampMessage(message: string): string {
  // eslint-disable-next-line no-control-regex
  const clean = message.replace(/[\u0000-\u001f\u007f]/g, ' ');
  return clean.length <= MAX_MESSAGE_CHARS ? clean : `${clean.slice(0, MAX_MESSAGE_CHARS - 1)}…`;
}

/** The gossipsub topic of a site's progress (version 1 of the payload). */
export function progressTopic(site: string): string {
  return `lpmos/${site}/progress/1`;
}
