/**
 * What the Redis queue puts on the wire and reads back: stream-entry parsing, the one-letter
 * fields of request and reply entries, and the framing of several replies in one pub/sub message.
 * Pure functions (no connection), kept apart from the queue's connection and delivery logic.
 */
import { SlackserveError } from '../errors.js';
import { decodeReply, ownBytes } from './codec.js';
import type { InferenceReply } from './types.js';

/** A raw stream entry: id and [field, value, ...] (null when the entry was deleted). */
export type RawEntry = [Buffer, Buffer[] | null];

/** What a client is told when Redis fails a command; the driver's text stays in `cause` (and the log). */
export function unavailableMessage(address: string): string {
  return `queue backend unavailable (redis at ${address})`;
}

/**
 * A Redis failure as the client sees it: BACKEND_UNAVAILABLE naming the address (never the
 * password, never ioredis's text, which is kept as `cause` for the server's log).
 */
export function backend(err: unknown, address: string): SlackserveError {
  if (err instanceof SlackserveError) return err;
  return new SlackserveError('BACKEND_UNAVAILABLE', unavailableMessage(address), {}, { cause: err });
}

/** Redis glob metacharacters escaped, so a prefix matches only itself in SCAN MATCH. */
export function globEscape(s: string): string {
  return s.replace(/[*?[\]\\]/g, (c) => `\\${c}`);
}

/** Bounded exponential backoff: 100 ms doubling to 5 s (attempt 1, 2, ...). */
export function backoffMs(attempt: number, baseMs = 100, maxMs = 5_000): number {
  return Math.min(maxMs, baseMs * 2 ** Math.min(Math.max(0, attempt - 1), 16));
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** XREAD/XREADGROUP reply (RESP2: [[key, entries]] or null) -> entries of the one stream read. */
export function streamEntries(res: unknown): RawEntry[] {
  if (!Array.isArray(res) || res.length === 0) return [];
  const first = res[0] as [Buffer, RawEntry[]];
  return first[1] ?? [];
}

/** The value of a one-letter field ('m', 'd', 'l') in [field, value, ...]. */
export function field(fields: Buffer[], name: number): Buffer | undefined {
  for (let i = 0; i + 1 < fields.length; i += 2) {
    const f = fields[i]!;
    if (f.length === 1 && f[0] === name) return fields[i + 1];
  }
  return undefined;
}
export const F_META = 0x6d; // 'm'
export const F_DATA = 0x64; // 'd'
export const F_LOGITS = 0x6c; // 'l'

/**
 * Pub/sub message: one or more replies, each u32 LE metadata length, u32 LE logits length,
 * metadata JSON, logits bytes.
 */
export function frame(replies: readonly (readonly [string, Uint8Array | undefined])[]): Buffer {
  const metas = replies.map(([m]) => Buffer.from(m));
  let size = 0;
  for (const [i, [, l]] of replies.entries()) size += 8 + metas[i]!.length + (l?.byteLength ?? 0);
  const out = Buffer.allocUnsafe(size);
  let o = 0;
  for (const [i, [, l]] of replies.entries()) {
    const m = metas[i]!;
    out.writeUInt32LE(m.length, o);
    out.writeUInt32LE(l?.byteLength ?? 0, o + 4);
    m.copy(out, o + 8);
    if (l) out.set(l, o + 8 + m.length);
    o += 8 + m.length + (l?.byteLength ?? 0);
  }
  return out;
}
export function unframe(b: Buffer): InferenceReply[] {
  const out: InferenceReply[] = [];
  for (let o = 0; o + 8 <= b.length; ) {
    const m = b.readUInt32LE(o);
    const l = b.readUInt32LE(o + 4);
    const meta = b.toString('utf8', o + 8, o + 8 + m);
    out.push(decodeReply(meta, l > 0 ? ownBytes(b.subarray(o + 8 + m, o + 8 + m + l)) : undefined));
    o += 8 + m + l;
  }
  return out;
}

/** Stream entry fields of one or more replies: m (metadata) [l (logits)], repeated. */
export function unfields(fields: Buffer[]): InferenceReply[] {
  const out: InferenceReply[] = [];
  let meta: Buffer | undefined;
  let logits: Buffer | undefined;
  const flush = (): void => {
    if (meta) out.push(decodeReply(meta.toString(), logits && ownBytes(logits)));
    meta = logits = undefined;
  };
  for (let i = 0; i + 1 < fields.length; i += 2) {
    const f = fields[i]!;
    if (f.length !== 1) continue;
    if (f[0] === F_META) {
      flush();
      meta = fields[i + 1];
    } else if (f[0] === F_LOGITS) logits = fields[i + 1];
  }
  flush();
  return out;
}
