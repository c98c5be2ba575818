/**
 * Request validation (both implementations) and the wire form the Redis queue stores: metadata as
 * a compact JSON array (fixed field order, a version number first, so a mixed-version deployment
 * fails loudly instead of misreading fields) and tensor bytes as a separate binary field, never
 * base64 or JSON numbers.
 */
import { SlackserveError } from '../errors.js';
import type { InferenceReply, QueuedInference } from './types.js';

const META_VERSION = 1;

/** Rejects requests no worker could run, before they take queue space (INPUT_INVALID). */
export function validateRequest(r: QueuedInference): void {
  const bad = (why: string): never => {
    throw new SlackserveError('INPUT_INVALID', `queued request ${JSON.stringify(r.id)}: ${why}`, { id: r.id });
  };
  if (typeof r.id !== 'string' || r.id.length === 0) bad('id must be a non-empty string');
  if (typeof r.frontend !== 'string' || r.frontend.length === 0) bad('frontend must be a non-empty string');
  if (!Number.isFinite(r.arrivalMs) || !Number.isFinite(r.deadlineMs)) bad('arrivalMs and deadlineMs must be finite');
  if (!Array.isArray(r.shape) || r.shape.length === 0 || !r.shape.every((d) => Number.isInteger(d) && d > 0))
    bad(`shape must be positive integers, got ${JSON.stringify(r.shape)}`);
  const elements = r.shape.reduce((a, b) => a * b, 1);
  if (!(r.data instanceof Uint8Array) || r.data.byteLength !== elements * 4)
    bad(`data holds ${r.data?.byteLength} bytes, shape ${JSON.stringify(r.shape)} needs ${elements * 4} (FP32)`);
}

export function encodeMeta(r: QueuedInference): string {
  return JSON.stringify([
    META_VERSION,
    r.id,
    r.frontend,
    r.model,
    r.arrivalMs,
    r.deadlineMs,
    r.minAccuracy,
    r.priority,
    r.sheddable ? 1 : 0,
    r.sloClass,
    r.downgraded ? 1 : 0,
    r.shape,
    r.stream === true ? 1 : 0,
  ]);
}

/** Inverse of encodeMeta; `data` is used as is (the caller owns a fresh copy). */
export function decodeMeta(json: string, data: Uint8Array): QueuedInference {
  const a = JSON.parse(json) as unknown[];
  if (!Array.isArray(a) || a[0] !== META_VERSION || a.length !== 13)
    throw new SlackserveError('INTERNAL', `queued request metadata of an unknown version: ${json.slice(0, 80)}`);
  const base = {
    id: a[1] as string,
    frontend: a[2] as string,
    model: a[3] as string,
    arrivalMs: a[4] as number,
    deadlineMs: a[5] as number,
    minAccuracy: a[6] as number,
    priority: a[7] as number,
    sheddable: a[8] === 1,
    sloClass: a[9] as string,
    downgraded: a[10] === 1,
    shape: a[11] as number[],
    data,
  };
  return a[12] === 1 ? { ...base, stream: true } : base;
}

/** Reply metadata as JSON (everything except the logits, which travel as raw bytes). */
export function encodeReplyMeta(r: InferenceReply): string {
  if (!r.ok) return JSON.stringify(r);
  const { logits: _logits, ...rest } = r;
  return JSON.stringify(rest);
}

export function decodeReply(json: string, logits: Uint8Array | undefined): InferenceReply {
  const meta = JSON.parse(json) as Record<string, unknown>;
  if (meta.ok === true) return { ...(meta as object), logits: logits ?? new Uint8Array(0) } as InferenceReply;
  return meta as unknown as InferenceReply;
}

/**
 * A private, 0-aligned copy of bytes received from Redis. ioredis hands out slices of a shared
 * socket buffer at arbitrary offsets; a worker needs `new Float32Array(data.buffer)` to work.
 */
export function ownBytes(b: Uint8Array): Uint8Array {
  return new Uint8Array(b);
}

/** A Buffer view (no copy) of a Uint8Array, for ioredis arguments. */
export function asBuffer(u: Uint8Array): Buffer {
  return Buffer.from(u.buffer, u.byteOffset, u.byteLength);
}
