/**
 * Protobuf wire-format reading primitives for the hand-written request decoder (infer-wire.ts):
 * bounded varints, tags, length-delimited views, and unknown-field skipping.
 *
 * Every read takes the end of the enclosing (sub)message and fails rather than read past it, so a
 * nested length can never let a field overrun its parent. Failures are thrown as
 * `WireDecodeFailure` (a plain object class, not an Error: no stack trace is captured, so a
 * rejected request costs no more than an accepted one) and caught once at the top of the decoder,
 * which returns them. Messages are short and never contain bytes from the input.
 */

export type WireFailureCode = 'INPUT_INVALID' | 'LIMIT_EXCEEDED';

/** Longest `message` a failure carries (the numbers in it are the only variable parts). */
export const MAX_FAILURE_MESSAGE = 200;

/**
 * Why a request could not be decoded. Returned (never thrown) by the public decoder; check it with
 * `instanceof WireDecodeFailure` or `isWireDecodeFailure(x)`.
 */
export class WireDecodeFailure {
  readonly failure = true as const;
  readonly message: string;
  constructor(
    readonly code: WireFailureCode,
    message: string,
  ) {
    this.message = message.length > MAX_FAILURE_MESSAGE ? `${message.slice(0, MAX_FAILURE_MESSAGE - 3)}...` : message;
  }
}

export function isWireDecodeFailure(x: unknown): x is WireDecodeFailure {
  return x instanceof WireDecodeFailure;
}

export function invalid(message: string): WireDecodeFailure {
  return new WireDecodeFailure('INPUT_INVALID', message);
}

/** Wire types (protobuf encoding spec). 3/4 are the deprecated groups, 6/7 do not exist. */
export const WT_VARINT = 0;
export const WT_I64 = 1;
export const WT_LEN = 2;
export const WT_SGROUP = 3;
export const WT_EGROUP = 4;
export const WT_I32 = 5;

/** Unknown groups nested deeper than this are rejected (bounds the skipper's recursion). */
export const MAX_GROUP_DEPTH = 32;

const TWO_32 = 4294967296;

export class PbReader {
  pos: number;
  /** The two 32-bit halves of the last varint read (unsigned). */
  lo = 0;
  hi = 0;
  /** How many more unknown fields may be skipped in this message (limits.maxUnknownFields). */
  unknownLeft: number;

  constructor(
    readonly buf: Buffer,
    private readonly maxUnknownFields: number,
  ) {
    this.pos = 0;
    this.unknownLeft = maxUnknownFields;
  }

  /**
   * A varint of up to 10 bytes, ending at or before `end`: returns the low 32 bits (unsigned) and
   * leaves both halves in `lo`/`hi`. An 11th continuation byte is an overlong varint.
   */
  varint(end: number): number {
    const buf = this.buf;
    let pos = this.pos;
    if (pos >= end) throw truncated(pos);
    let b = buf[pos++]!;
    if (b < 0x80) {
      this.pos = pos;
      this.hi = 0;
      return (this.lo = b);
    }
    let lo = b & 0x7f;
    for (let shift = 7; shift < 28; shift += 7) {
      if (pos >= end) throw truncated(pos);
      b = buf[pos++]!;
      lo |= (b & 0x7f) << shift;
      if (b < 0x80) {
        this.pos = pos;
        this.hi = 0;
        return (this.lo = lo >>> 0);
      }
    }
    // 5th byte: 4 bits into lo, 3 into hi
    if (pos >= end) throw truncated(pos);
    b = buf[pos++]!;
    lo = (lo | ((b & 0x0f) << 28)) >>> 0;
    let hi = (b & 0x7f) >>> 4;
    if (b >= 0x80) {
      // 6th..10th bytes; bits past 64 in the 10th byte are dropped, as every protobuf runtime does
      for (let shift = 3; ; shift += 7) {
        if (shift > 31) throw invalid(`overlong varint (more than 10 bytes) at byte ${this.pos}`);
        if (pos >= end) throw truncated(pos);
        b = buf[pos++]!;
        hi |= (b & 0x7f) << shift;
        if (b < 0x80) break;
      }
    }
    this.pos = pos;
    this.hi = hi >>> 0;
    return (this.lo = lo);
  }

  /** A field tag: the field number must be 1..2^29-1 and the wire type one that exists. */
  tag(end: number): number {
    const at = this.pos;
    const t = this.varint(end);
    if (this.hi !== 0 || t < 8) throw invalid(`invalid field tag at byte ${at}`);
    const wt = t & 7;
    if (wt > WT_I32) throw invalid(`invalid wire type ${wt} at byte ${at}`);
    return t;
  }

  /** A length prefix; the bytes it announces must lie before `end`. Returns the end of the value. */
  lengthEnd(end: number, what: string): number {
    const at = this.pos;
    const n = this.varint(end);
    if (this.hi !== 0 || n > end - this.pos) throw invalid(`${what}: length at byte ${at} runs past the end of its message`);
    return this.pos + n;
  }

  /** A length-delimited UTF-8 string of at most `maxBytes` bytes (decoded lossily, as protobufjs does). */
  string(end: number, maxBytes: number, what: string, limitName: string): string {
    const e = this.lengthEnd(end, what);
    const start = this.pos;
    if (e - start > maxBytes) throw limitExceeded(`${what} is longer than ${maxBytes} bytes`, limitName, maxBytes);
    this.pos = e;
    if (e === start) return '';
    // Buffer's UTF-8 decoder is the one protobufjs uses for Buffers (utf8Slice): invalid sequences
    // become U+FFFD, so the strings are identical to the ones the generated decoder made.
    return this.buf.toString('utf8', start, e);
  }

  /** A length-delimited bytes value as a view (subarray) of the input: no copy. */
  bytes(end: number, what: string): Buffer {
    const e = this.lengthEnd(end, what);
    const start = this.pos;
    this.pos = e;
    return this.buf.subarray(start, e);
  }

  float32(end: number): number {
    if (end - this.pos < 4) throw truncated(end);
    const v = this.buf.readFloatLE(this.pos);
    this.pos += 4;
    return v;
  }

  float64(end: number): number {
    if (end - this.pos < 8) throw truncated(end);
    const v = this.buf.readDoubleLE(this.pos);
    this.pos += 8;
    return v;
  }

  /**
   * Skips the value of an unknown field (any wire type, groups included) and charges it to the
   * unknown-field budget, so a message made of millions of tiny unknown fields stops early too.
   */
  skip(tag: number, end: number, depth = 0): void {
    if (--this.unknownLeft < 0) throw limitExceeded('too many unknown fields', 'maxUnknownFields', this.maxUnknownFields);
    switch (tag & 7) {
      case WT_VARINT:
        this.varint(end);
        return;
      case WT_I64:
        if (end - this.pos < 8) throw truncated(end);
        this.pos += 8;
        return;
      case WT_LEN:
        this.pos = this.lengthEnd(end, `unknown field ${tag >>> 3}`);
        return;
      case WT_I32:
        if (end - this.pos < 4) throw truncated(end);
        this.pos += 4;
        return;
      case WT_SGROUP: {
        if (depth >= MAX_GROUP_DEPTH) throw invalid(`unknown group nested deeper than ${MAX_GROUP_DEPTH}`);
        for (;;) {
          const t = this.tag(end);
          if ((t & 7) === WT_EGROUP) {
            if (t >>> 3 !== tag >>> 3) throw invalid(`group end for field ${t >>> 3} closes group ${tag >>> 3}`);
            return;
          }
          this.skip(t, end, depth + 1);
        }
      }
      default:
        throw invalid(`unexpected group end (field ${tag >>> 3}) at byte ${this.pos}`);
    }
  }
}

export function truncated(at: number): WireDecodeFailure {
  return invalid(`truncated message: a value at byte ${at} runs past the end of its message`);
}

export function limitExceeded(what: string, limitName: string, value: number): WireDecodeFailure {
  return new WireDecodeFailure('LIMIT_EXCEEDED', `${what} (limit ${limitName} = ${value})`);
}

/**
 * An int64/uint64 from its halves as the decimal string protobufjs + Long produce under
 * `longs: String`. Values below 2^53 in magnitude take the number path; the rest go through BigInt.
 */
export function longToString(lo: number, hi: number, signed: boolean): string {
  if (hi === 0) return String(lo);
  if (signed && hi >= 0x80000000) {
    const nlo = (~lo + 1) >>> 0;
    const nhi = (~hi + (nlo === 0 ? 1 : 0)) >>> 0;
    if (nhi < 0x200000) return `-${nhi * TWO_32 + nlo}`;
    return BigInt.asIntN(64, (BigInt(hi) << 32n) | BigInt(lo)).toString();
  }
  if (hi < 0x200000) return String(hi * TWO_32 + lo);
  return ((BigInt(hi) << 32n) | BigInt(lo)).toString();
}
