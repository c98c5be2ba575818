/**
 * Protobuf wire helpers for the fast replay path: a ModelInferRequest assembled from pre-encoded
 * pieces (encoded once by protobufjs) around a per-request id, and a ModelInferResponse read
 * lazily: only the id, the response parameters and the `class` output are decoded; the logits
 * bytes are skipped, never copied.
 *
 * protobufjs writes a message's fields in field-number order, so model_name (1), id (3),
 * parameters (4), inputs (5) and raw_input_contents (7) concatenated in that order are the same
 * bytes the object path would send.
 */
import type { ParamValue } from './oip-client.js';

/** Where a piece lies in a (shared) byte buffer. */
export interface Span {
  readonly offset: number;
  readonly length: number;
}

const varintLength = (n: number): number => (n < 0x80 ? 1 : n < 0x4000 ? 2 : n < 0x200000 ? 3 : n < 0x10000000 ? 4 : 5);

function writeVarint(out: Uint8Array, pos: number, n: number): number {
  while (n >= 0x80) {
    out[pos++] = (n & 0x7f) | 0x80;
    n >>>= 7;
  }
  out[pos++] = n;
  return pos;
}

/**
 * A ModelInferRequest or ModelInferResponse (both have `string id = 3`): `head` (the fields
 * numbered below 3), the id field written here, then `tail` pieces (fields above 3, in order),
 * copied into one buffer. For a request: model_name; id; parameters, inputs + raw_input_contents.
 * `framed`: with gRPC's 5-byte message prefix (uncompressed, length) in front.
 */
export function assembleWithId(head: Uint8Array, id: string, tail: readonly Uint8Array[], framed = false): Buffer {
  const idBytes = Buffer.byteLength(id);
  let size = head.length + 1 + varintLength(idBytes) + idBytes;
  for (const t of tail) size += t.length;
  const prefix = framed ? 5 : 0;
  const out = Buffer.allocUnsafe(prefix + size);
  if (framed) {
    out[0] = 0;
    out.writeUInt32BE(size, 1);
  }
  out.set(head, prefix);
  let pos = prefix + head.length;
  out[pos++] = 0x1a; // field 3 (id), length-delimited
  pos = writeVarint(out, pos, idBytes);
  pos += out.write(id, pos, 'utf8');
  for (const t of tail) {
    out.set(t, pos);
    pos += t.length;
  }
  return out;
}

/** What the replay needs from a ModelInferResponse. */
export interface ResponseView {
  readonly id: string;
  /** Response parameters (int64/uint64 as numbers). */
  readonly params: Record<string, ParamValue>;
  /** Output names in order. */
  readonly outputs: string[];
  /** The `class` output (INT64, one per image), or null when the response has none. */
  readonly classes: number[] | null;
}

class Reader {
  pos: number;
  constructor(
    readonly buf: Buffer,
    pos: number,
    readonly end: number,
  ) {
    this.pos = pos;
  }

  varint(): number {
    let v = 0;
    let mul = 1;
    for (let k = 0; k < 10; k++) {
      if (this.pos >= this.end) throw new Error('truncated varint');
      const b = this.buf[this.pos++] as number;
      v += (b & 0x7f) * mul;
      if (b < 0x80) return v;
      mul *= 128;
    }
    throw new Error('varint longer than 10 bytes');
  }

  /** A varint as 64 bits: [low 32, high 32], both unsigned. */
  bits(): [number, number] {
    let lo = 0;
    let hi = 0;
    for (let shift = 0; shift < 70; shift += 7) {
      if (this.pos >= this.end) throw new Error('truncated varint');
      const b = (this.buf[this.pos++] as number) & 0xff;
      const v = b & 0x7f;
      if (shift < 28) lo |= v << shift;
      else if (shift === 28) {
        lo |= v << 28;
        hi |= v >>> 4;
      } else hi |= v << (shift - 32);
      if (b < 0x80) return [lo >>> 0, hi >>> 0];
    }
    throw new Error('varint longer than 10 bytes');
  }

  /** An int64 varint (two's complement), as a number (exact within 2^53). */
  int64(): number {
    const [lo, hi] = this.bits();
    return hi & 0x80000000 ? -((~hi >>> 0) * 4294967296 + (~lo >>> 0) + 1) : hi * 4294967296 + lo;
  }

  /** A uint64 varint as a number (exact below 2^53). */
  uint64(): number {
    const [lo, hi] = this.bits();
    return hi * 4294967296 + lo;
  }

  /** A length-delimited field's [start, end). */
  span(): [number, number] {
    const n = this.varint();
    const s = this.pos;
    if (s + n > this.end) throw new Error('truncated length-delimited field');
    this.pos = s + n;
    return [s, s + n];
  }

  string(): string {
    const [s, e] = this.span();
    return this.buf.toString('utf8', s, e);
  }

  skip(wireType: number): void {
    if (wireType === 0) this.varint();
    else if (wireType === 1) this.pos += 8;
    else if (wireType === 2) this.span();
    else if (wireType === 5) this.pos += 4;
    else throw new Error(`unsupported wire type ${wireType}`);
    if (this.pos > this.end) throw new Error('truncated field');
  }
}

/** The first top-level length-delimited field `field` of a message, as UTF-8 ('' if absent). */
export function readStringField(buf: Buffer, field: number): string {
  const r = new Reader(buf, 0, buf.length);
  while (r.pos < r.end) {
    const tag = r.varint();
    if (tag === ((field << 3) | 2)) return r.string();
    r.skip(tag & 7);
  }
  return '';
}

function readParameter(r: Reader): ParamValue | undefined {
  let value: ParamValue | undefined;
  while (r.pos < r.end) {
    const tag = r.varint();
    const field = tag >>> 3;
    const wt = tag & 7;
    if (field === 1 && wt === 0) value = r.varint() !== 0;
    else if (field === 2 && wt === 0) value = r.int64();
    else if (field === 3 && wt === 2) value = r.string();
    else if (field === 4 && wt === 1) {
      if (r.pos + 8 > r.end) throw new Error('truncated double');
      value = r.buf.readDoubleLE(r.pos);
      r.pos += 8;
    } else if (field === 5 && wt === 0) value = r.uint64();
    else r.skip(wt);
  }
  return value;
}

function readMapEntry(buf: Buffer, s: number, e: number, into: Record<string, ParamValue>): void {
  const r = new Reader(buf, s, e);
  let key = '';
  let value: ParamValue | undefined;
  while (r.pos < r.end) {
    const tag = r.varint();
    if (tag === 0x0a) key = r.string();
    else if (tag === 0x12) {
      const [vs, ve] = r.span();
      value = readParameter(new Reader(buf, vs, ve));
    } else r.skip(tag & 7);
  }
  if (value !== undefined) into[key] = value;
}

/** An output tensor's name and, when it has typed contents, its int64_contents. */
function readOutput(buf: Buffer, s: number, e: number): { name: string; int64: number[] | null } {
  const r = new Reader(buf, s, e);
  let name = '';
  let int64: number[] | null = null;
  while (r.pos < r.end) {
    const tag = r.varint();
    if (tag === 0x0a) name = r.string();
    else if (tag === 0x2a) {
      // contents: InferTensorContents, int64_contents = 3 (packed or not)
      const [cs, ce] = r.span();
      const c = new Reader(buf, cs, ce);
      while (c.pos < c.end) {
        const t = c.varint();
        if (t === 0x1a) {
          const [ps, pe] = c.span();
          const p = new Reader(buf, ps, pe);
          int64 ??= [];
          while (p.pos < p.end) int64.push(p.int64());
        } else if (t === 0x18) (int64 ??= []).push(c.int64());
        else c.skip(t & 7);
      }
    } else r.skip(tag & 7);
  }
  return { name, int64 };
}

/**
 * Reads a ModelInferResponse's id, parameters and `class` output without decoding the rest.
 * Throws on malformed bytes.
 */
export function readInferResponse(buf: Buffer): ResponseView {
  const r = new Reader(buf, 0, buf.length);
  let id = '';
  const params: Record<string, ParamValue> = {};
  const outputs: { name: string; int64: number[] | null }[] = [];
  const raw: [number, number][] = [];
  while (r.pos < r.end) {
    const tag = r.varint();
    if (tag === 0x1a) id = r.string();
    else if (tag === 0x22) {
      const [s, e] = r.span();
      readMapEntry(buf, s, e, params);
    } else if (tag === 0x2a) {
      const [s, e] = r.span();
      outputs.push(readOutput(buf, s, e));
    } else if (tag === 0x32) raw.push(r.span());
    else r.skip(tag & 7);
  }
  const k = outputs.findIndex((o) => o.name === 'class');
  let classes: number[] | null = null;
  if (k >= 0) {
    const span = raw[k];
    if (span) {
      const [s, e] = span;
      if ((e - s) % 8 !== 0) throw new Error(`class output has ${e - s} raw bytes, not a multiple of 8`);
      classes = [];
      for (let p = s; p < e; p += 8) classes.push(Number(buf.readBigInt64LE(p)));
    } else classes = outputs[k]?.int64 ?? null;
  }
  return { id, params, outputs: outputs.map((o) => o.name), classes };
}
