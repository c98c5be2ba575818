/**
 * Protobuf wire-format writing primitives for the hand-written response encoders (infer-wire.ts).
 *
 * The encoders run in two passes over the message object: a sizing pass that records, in
 * pre-order, the length of every length-delimited value (`SizePlan`), and a writing pass that
 * replays those lengths while it fills one `Buffer.allocUnsafe` of the exact total size. This is
 * what protobufjs's fork()/ldelim() achieves with a linked list of operations per field; here the
 * only allocation besides the output is one array of numbers per message.
 */

const TWO_32 = 4294967296;
const TWO_63 = 9223372036854775808;
const TWO_64 = 18446744073709551616;

/** The two 32-bit halves (unsigned) of the last int64 converted by `setLong`. */
export const long = { lo: 0, hi: 0 };

function setBits(lo: number, hi: number): void {
  long.lo = lo >>> 0;
  long.hi = hi >>> 0;
}

/** Two's complement of a magnitude given as halves. */
function setNegated(lo: number, hi: number): void {
  const nlo = (~lo + 1) >>> 0;
  setBits(nlo, ~hi + (nlo === 0 ? 1 : 0));
}

/**
 * Converts an int64/uint64 field value the way protobufjs's fromObject does (Long.fromValue):
 * numbers are truncated toward zero and clamped to the field's range (NaN is 0, negative numbers
 * are 0 in uint64 fields); decimal strings are exact and wrap modulo 2^64 like Long.fromString.
 * Also accepts bigint and Long-like `{low, high}` objects. Anything else (a non-decimal string
 * such as "1e3" or "0x10") is a TypeError: the server builds these values, so it is a bug.
 */
export function setLong(v: unknown, unsigned: boolean): void {
  if (typeof v === 'number') {
    if (v >= 0 && v < TWO_32 && v % 1 === 0) {
      long.lo = v >>> 0;
      long.hi = 0;
      return;
    }
    setLongFromNumber(v, unsigned);
  } else if (typeof v === 'string') {
    if (!/^[+-]?\d+$/.test(v)) throw new TypeError(`int64 field: '${v.slice(0, 24)}' is not a decimal integer`);
    // up to 15 digits a double is exact, and the wrapping below equals Long.fromString's
    if (v.length <= 15) setLongFromNumber(Number(v), false);
    else setLongFromBigInt(BigInt(v));
  } else if (typeof v === 'bigint') {
    setLongFromBigInt(v);
  } else if (typeof v === 'object' && v !== null && typeof (v as { low?: unknown }).low === 'number') {
    const l = v as { low: number; high: number };
    setBits(l.low, l.high);
  } else {
    throw new TypeError(`int64 field: expected a number or a decimal string, got ${typeof v}`);
  }
}

function setLongFromNumber(v: number, unsigned: boolean): void {
  if (Number.isNaN(v)) return setBits(0, 0);
  if (unsigned) {
    if (v < 0) return setBits(0, 0);
    if (v >= TWO_64) return setBits(0xffffffff, 0xffffffff);
  } else {
    if (v <= -TWO_63) return setBits(0, 0x80000000);
    if (v + 1 >= TWO_63) return setBits(0xffffffff, 0x7fffffff);
  }
  const a = Math.trunc(Math.abs(v));
  const hi = Math.floor(a / TWO_32);
  const lo = a - hi * TWO_32;
  if (v < 0) setNegated(lo, hi);
  else setBits(lo, hi);
}

function setLongFromBigInt(b: bigint): void {
  const u = BigInt.asUintN(64, b);
  setBits(Number(u & 0xffffffffn), Number(u >> 32n));
}

export function varint32Size(v: number): number {
  return v < 0x80 ? 1 : v < 0x4000 ? 2 : v < 0x200000 ? 3 : v < 0x10000000 ? 4 : 5;
}

export function varint64Size(lo: number, hi: number): number {
  if (hi === 0) return varint32Size(lo);
  const part1 = ((lo >>> 28) | (hi << 4)) >>> 0;
  const part2 = hi >>> 24;
  if (part2 !== 0) return part2 < 0x80 ? 9 : 10;
  return part1 < 0x4000 ? (part1 < 0x80 ? 5 : 6) : part1 < 0x200000 ? 7 : 8;
}

/** Size of a length-delimited field: tag + length prefix + body. */
export function lenField(body: number): number {
  return 1 + varint32Size(body) + body;
}

/** Size of an int32 varint: negative values are sign-extended to 10 bytes (protobuf's rule). */
export function int32Size(v: number): number {
  return v < 0 ? 10 : varint32Size(v);
}

/** Byte length of a string in UTF-8 (lone surrogates count as U+FFFD, 3 bytes, as they are written). */
export function utf8Length(s: string): number {
  // ASCII is the common case (names, ids); one charCode scan is cheaper than the native call
  if (s.length < 64) {
    let i = 0;
    while (i < s.length && s.charCodeAt(i) < 0x80) i++;
    if (i === s.length) return s.length;
  }
  return Buffer.byteLength(s, 'utf8');
}

/** The lengths of a message's length-delimited values, in the order the writer will need them. */
export class SizePlan {
  readonly sizes: number[] = [];
  /** Objects the sizing pass computed and the writing pass reuses (map keys and values), in order. */
  readonly refs: unknown[] = [];
  keep(a: unknown, b: unknown): void {
    this.refs.push(a, b);
  }
  /** Reserves a slot; returns its index for `set`. */
  reserve(): number {
    return this.sizes.push(0) - 1;
  }
  set(slot: number, v: number): void {
    this.sizes[slot] = v;
  }
  push(v: number): void {
    this.sizes.push(v);
  }
}

export class PbWriter {
  readonly buf: Buffer;
  pos = 0;
  private next = 0;
  private nextRef = 0;

  /** `prefix` bytes are left free at the start of `buf` (a gRPC frame header), and writing starts after them. */
  constructor(
    size: number,
    private readonly plan: SizePlan,
    prefix = 0,
  ) {
    this.buf = Buffer.allocUnsafe(size + prefix);
    this.pos = prefix;
  }

  /** The next length recorded by the sizing pass. */
  planned(): number {
    const v = this.plan.sizes[this.next++];
    if (v === undefined) throw new Error('wire encoder: size plan exhausted (sizing and writing passes disagree)');
    return v;
  }

  /** The next object kept by the sizing pass. */
  kept(): unknown {
    return this.plan.refs[this.nextRef++];
  }

  uint32(v: number): void {
    const buf = this.buf;
    let pos = this.pos;
    while (v > 0x7f) {
      buf[pos++] = (v & 0x7f) | 0x80;
      v >>>= 7;
    }
    buf[pos++] = v;
    this.pos = pos;
  }

  varint64(lo: number, hi: number): void {
    if (hi === 0) return this.uint32(lo);
    const buf = this.buf;
    let pos = this.pos;
    while (hi > 0) {
      buf[pos++] = (lo & 0x7f) | 0x80;
      lo = ((lo >>> 7) | (hi << 25)) >>> 0;
      hi >>>= 7;
    }
    while (lo > 0x7f) {
      buf[pos++] = (lo & 0x7f) | 0x80;
      lo >>>= 7;
    }
    buf[pos++] = lo;
    this.pos = pos;
  }

  int32(v: number): void {
    if (v >= 0) this.uint32(v);
    else this.varint64(v >>> 0, 0xffffffff);
  }

  /** A string whose UTF-8 length the sizing pass measured (`len`). */
  stringBody(s: string, len: number): void {
    if (len === s.length) {
      // ASCII: a byte loop beats the native call for short strings
      if (len < 32) {
        const buf = this.buf;
        const pos = this.pos;
        for (let i = 0; i < len; i++) buf[pos + i] = s.charCodeAt(i);
      } else {
        this.buf.write(s, this.pos, len, 'latin1');
      }
    } else {
      this.buf.write(s, this.pos, len, 'utf8');
    }
    this.pos += len;
  }

  bytesBody(b: ArrayLike<number>): void {
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }

  float(v: number): void {
    this.buf.writeFloatLE(v, this.pos);
    this.pos += 4;
  }

  double(v: number): void {
    this.buf.writeDoubleLE(v, this.pos);
    this.pos += 8;
  }
}
