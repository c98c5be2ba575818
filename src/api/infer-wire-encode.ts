/**
 * Hand-written encoders for `inference.ModelInferResponse` and `inference.ModelStreamInferResponse`
 * (re-exported by infer-wire.ts, which has the contract). They take the objects the gRPC edge
 * builds (src/api/tensors.ts) and produce the bytes protobufjs's `fromObject` + `encode` produce for
 * them: fields in field-number order, strings written when present even if empty, repeated
 * scalars packed, every map entry with its key and value, oneof members written when present (the
 * `parameter_choice` name, a decoder's artefact, is ignored exactly as protobufjs ignores it).
 *
 * Two passes (pb-writer.ts): `size*` functions measure and record the length of every
 * length-delimited value in a SizePlan; `write*` functions replay the plan into one
 * Buffer.allocUnsafe of the exact size. Each size function and its write function visit the
 * same values in the same order; the writer checks that the plan is used up exactly.
 *
 * Values are coerced as protobufjs's fromObject coerces them (Boolean, Number, String, `| 0`,
 * `>>> 0`, Long.fromValue for int64). Differences, none of which the server produces: bytes given
 * as base64 strings and int64 strings that are not decimal integers are a TypeError; strings with
 * lone surrogates (not Unicode) are written as U+FFFD.
 */
import { int32Size, lenField, long, PbWriter, setLong, SizePlan, utf8Length, varint32Size, varint64Size } from './pb-writer.js';
import type {
  WireInferOutputTensor,
  WireInferParameter,
  WireModelInferResponse,
  WireModelStreamInferResponse,
  WireParameters,
  WireTensorContents,
} from './proto.js';

/** A present field, as protobufjs decides it: neither null nor undefined. */
const present = <T>(v: T | null | undefined): v is T => v !== null && v !== undefined;

function asString(v: unknown): string {
  return typeof v === 'string' ? v : String(v);
}

function objectExpected(what: string): TypeError {
  return new TypeError(`${what}: object expected`);
}

function sizeString(s: unknown, plan: SizePlan): number {
  const n = utf8Length(asString(s));
  plan.push(n);
  return lenField(n);
}

function writeString(w: PbWriter, tag: number, s: unknown): void {
  const len = w.planned();
  w.uint32(tag);
  w.uint32(len);
  w.stringBody(asString(s), len);
}

// ---- InferParameter and map<string, InferParameter> -------------------------------------------

function sizeParam(p: WireInferParameter, plan: SizePlan): number {
  let n = 0;
  if (present(p.bool_param)) n += 2;
  if (present(p.int64_param)) {
    setLong(p.int64_param, false);
    n += 1 + varint64Size(long.lo, long.hi);
  }
  if (present(p.string_param)) n += sizeString(p.string_param, plan);
  if (present(p.double_param)) n += 9;
  if (present(p.uint64_param)) {
    setLong(p.uint64_param, true);
    n += 1 + varint64Size(long.lo, long.hi);
  }
  return n;
}

function writeParam(w: PbWriter, p: WireInferParameter): void {
  if (present(p.bool_param)) {
    w.uint32(0x08);
    w.uint32(p.bool_param ? 1 : 0);
  }
  if (present(p.int64_param)) {
    setLong(p.int64_param, false);
    w.uint32(0x10);
    w.varint64(long.lo, long.hi);
  }
  if (present(p.string_param)) writeString(w, 0x1a, p.string_param);
  if (present(p.double_param)) {
    w.uint32(0x21);
    w.double(Number(p.double_param));
  }
  if (present(p.uint64_param)) {
    setLong(p.uint64_param, true);
    w.uint32(0x28);
    w.varint64(long.lo, long.hi);
  }
}

/**
 * Every entry: [entry length][key length][key...][value length][value...]. The keys and values
 * found while sizing are kept for the writing pass (Object.keys and keyed loads with ever-new keys
 * are the slow part of a map).
 */
function sizeParams(params: WireParameters | null | undefined, plan: SizePlan): number {
  if (!present(params)) return 0;
  if (typeof params !== 'object') throw objectExpected('parameters');
  const keys = Object.keys(params);
  const values: WireInferParameter[] = new Array<WireInferParameter>(keys.length);
  plan.keep(keys, values);
  let n = 0;
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i]!;
    const v = params[k];
    if (typeof v !== 'object' || v === null) throw objectExpected(`parameters entry`);
    values[i] = v;
    const slot = plan.reserve();
    const keyField = sizeString(k, plan);
    const valueSlot = plan.reserve();
    const value = sizeParam(v, plan);
    plan.set(valueSlot, value);
    const entry = keyField + lenField(value);
    plan.set(slot, entry);
    n += lenField(entry);
  }
  return n;
}

function writeParams(w: PbWriter, tag: number, params: WireParameters | null | undefined): void {
  if (!present(params)) return;
  const keys = w.kept() as string[];
  const values = w.kept() as WireInferParameter[];
  for (let i = 0; i < keys.length; i++) {
    w.uint32(tag);
    w.uint32(w.planned());
    writeString(w, 0x0a, keys[i]);
    w.uint32(0x12);
    w.uint32(w.planned());
    writeParam(w, values[i]!);
  }
}

// ---- InferTensorContents ----------------------------------------------------------------------

type Numbers = ArrayLike<number>;
const has = <T>(a: ArrayLike<T> | null | undefined): a is ArrayLike<T> => present(a) && a.length > 0;

function sizeContents(c: WireTensorContents, plan: SizePlan): number {
  let n = 0;
  if (has(c.bool_contents)) n += lenField(c.bool_contents.length);
  if (has(c.int_contents)) {
    const a: Numbers = c.int_contents;
    let len = 0;
    for (let i = 0; i < a.length; i++) len += int32Size(a[i]! | 0);
    plan.push(len);
    n += lenField(len);
  }
  if (has(c.int64_contents)) n += sizeLongs(c.int64_contents, false, plan);
  if (has(c.uint_contents)) {
    const a: Numbers = c.uint_contents;
    let len = 0;
    for (let i = 0; i < a.length; i++) len += varint32Size(a[i]! >>> 0);
    plan.push(len);
    n += lenField(len);
  }
  if (has(c.uint64_contents)) n += sizeLongs(c.uint64_contents, true, plan);
  if (has(c.fp32_contents)) n += lenField(c.fp32_contents.length * 4);
  if (has(c.fp64_contents)) n += lenField(c.fp64_contents.length * 8);
  if (has(c.bytes_contents)) for (const b of c.bytes_contents) n += lenField(bytesOf(b).length);
  return n;
}

function sizeLongs(a: ArrayLike<unknown>, unsigned: boolean, plan: SizePlan): number {
  let len = 0;
  for (let i = 0; i < a.length; i++) {
    setLong(a[i], unsigned);
    len += varint64Size(long.lo, long.hi);
  }
  plan.push(len);
  return lenField(len);
}

function bytesOf(b: unknown): ArrayLike<number> {
  if (b instanceof Uint8Array || Array.isArray(b)) return b as ArrayLike<number>;
  throw new TypeError('bytes field: expected a Buffer or Uint8Array');
}

function writeContents(w: PbWriter, c: WireTensorContents): void {
  if (has(c.bool_contents)) {
    const a = c.bool_contents;
    w.uint32(0x0a);
    w.uint32(a.length);
    for (let i = 0; i < a.length; i++) w.buf[w.pos++] = a[i] ? 1 : 0;
  }
  if (has(c.int_contents)) {
    const a: Numbers = c.int_contents;
    w.uint32(0x12);
    w.uint32(w.planned());
    for (let i = 0; i < a.length; i++) w.int32(a[i]! | 0);
  }
  if (has(c.int64_contents)) writeLongs(w, 0x1a, c.int64_contents, false);
  if (has(c.uint_contents)) {
    const a: Numbers = c.uint_contents;
    w.uint32(0x22);
    w.uint32(w.planned());
    for (let i = 0; i < a.length; i++) w.uint32(a[i]! >>> 0);
  }
  if (has(c.uint64_contents)) writeLongs(w, 0x2a, c.uint64_contents, true);
  if (has(c.fp32_contents)) {
    const a: Numbers = c.fp32_contents;
    w.uint32(0x32);
    w.uint32(a.length * 4);
    for (let i = 0; i < a.length; i++) w.float(Number(a[i]));
  }
  if (has(c.fp64_contents)) {
    const a: Numbers = c.fp64_contents;
    w.uint32(0x3a);
    w.uint32(a.length * 8);
    for (let i = 0; i < a.length; i++) w.double(Number(a[i]));
  }
  if (has(c.bytes_contents)) {
    for (const b of c.bytes_contents) {
      const bytes = bytesOf(b);
      w.uint32(0x42);
      w.uint32(bytes.length);
      w.bytesBody(bytes);
    }
  }
}

function writeLongs(w: PbWriter, tag: number, a: ArrayLike<unknown>, unsigned: boolean): void {
  w.uint32(tag);
  w.uint32(w.planned());
  for (let i = 0; i < a.length; i++) {
    setLong(a[i], unsigned);
    w.varint64(long.lo, long.hi);
  }
}

// ---- InferOutputTensor, ModelInferResponse, ModelStreamInferResponse --------------------------

function sizeOutput(t: WireInferOutputTensor, plan: SizePlan): number {
  if (typeof t !== 'object' || t === null) throw objectExpected('outputs entry');
  let n = 0;
  if (present(t.name)) n += sizeString(t.name, plan);
  if (present(t.datatype)) n += sizeString(t.datatype, plan);
  if (has(t.shape)) n += sizeLongs(t.shape, false, plan);
  n += sizeParams(t.parameters, plan);
  if (present(t.contents)) {
    if (typeof t.contents !== 'object') throw objectExpected('contents');
    const slot = plan.reserve();
    const c = sizeContents(t.contents, plan);
    plan.set(slot, c);
    n += lenField(c);
  }
  return n;
}

function writeOutput(w: PbWriter, t: WireInferOutputTensor): void {
  if (present(t.name)) writeString(w, 0x0a, t.name);
  if (present(t.datatype)) writeString(w, 0x12, t.datatype);
  if (has(t.shape)) writeLongs(w, 0x1a, t.shape, false);
  writeParams(w, 0x22, t.parameters);
  if (present(t.contents)) {
    w.uint32(0x2a);
    w.uint32(w.planned());
    writeContents(w, t.contents);
  }
}

function sizeResponse(r: WireModelInferResponse, plan: SizePlan): number {
  if (typeof r !== 'object' || r === null) throw objectExpected('ModelInferResponse');
  let n = 0;
  if (present(r.model_name)) n += sizeString(r.model_name, plan);
  if (present(r.model_version)) n += sizeString(r.model_version, plan);
  if (present(r.id)) n += sizeString(r.id, plan);
  n += sizeParams(r.parameters, plan);
  if (has(r.outputs)) {
    for (const o of r.outputs) {
      const slot = plan.reserve();
      const s = sizeOutput(o, plan);
      plan.set(slot, s);
      n += lenField(s);
    }
  }
  if (has(r.raw_output_contents)) for (const b of r.raw_output_contents) n += lenField(bytesOf(b).length);
  return n;
}

function writeResponse(w: PbWriter, r: WireModelInferResponse): void {
  if (present(r.model_name)) writeString(w, 0x0a, r.model_name);
  if (present(r.model_version)) writeString(w, 0x12, r.model_version);
  if (present(r.id)) writeString(w, 0x1a, r.id);
  writeParams(w, 0x22, r.parameters);
  if (has(r.outputs)) {
    for (const o of r.outputs) {
      w.uint32(0x2a);
      w.uint32(w.planned());
      writeOutput(w, o);
    }
  }
  if (has(r.raw_output_contents)) {
    for (const b of r.raw_output_contents) {
      const bytes = bytesOf(b);
      w.uint32(0x32);
      w.uint32(bytes.length);
      w.bytesBody(bytes);
    }
  }
}

function finish(w: PbWriter, size: number): Buffer {
  if (w.pos !== size) throw new Error(`wire encoder: wrote ${w.pos} bytes of a planned ${size}`);
  return w.buf;
}

/**
 * The response as one gRPC length-prefixed message (a zero compressed-flag byte, the length as
 * uint32 big-endian, then the bytes), written in place: the fast path (grpc-fast-infer.ts) sends
 * it as is, without the copy into a framed buffer grpc-js makes.
 */
export function encodeModelInferResponseFramed(r: WireModelInferResponse): Buffer {
  const plan = new SizePlan();
  const size = sizeResponse(r, plan);
  const w = new PbWriter(size, plan, 5);
  writeResponse(w, r);
  if (w.pos !== size + 5) throw new Error(`wire encoder: wrote ${w.pos - 5} bytes of a planned ${size}`);
  w.buf[0] = 0;
  w.buf.writeUInt32BE(size, 1);
  return w.buf;
}

/** `inference.ModelInferResponse` bytes; throws TypeError on a value protobufjs would also reject. */
export function encodeModelInferResponse(r: WireModelInferResponse): Buffer {
  const plan = new SizePlan();
  const size = sizeResponse(r, plan);
  const w = new PbWriter(size, plan);
  writeResponse(w, r);
  return finish(w, size);
}

/** `inference.ModelStreamInferResponse` bytes (an error message, or a response). */
export function encodeModelStreamInferResponse(r: WireModelStreamInferResponse): Buffer {
  if (typeof r !== 'object' || r === null) throw objectExpected('ModelStreamInferResponse');
  const plan = new SizePlan();
  let size = 0;
  if (present(r.error_message)) size += sizeString(r.error_message, plan);
  let inner = 0;
  if (present(r.infer_response)) {
    inner = sizeResponse(r.infer_response, plan);
    size += lenField(inner);
  }
  const w = new PbWriter(size, plan);
  if (present(r.error_message)) writeString(w, 0x0a, r.error_message);
  if (present(r.infer_response)) {
    w.uint32(0x12);
    w.uint32(inner);
    writeResponse(w, r.infer_response);
  }
  return finish(w, size);
}
