/**
 * The gRPC answer to one ModelInfer request, written straight from the backend's answer into one
 * framed buffer: the bytes `encodeModelInferResponseFramed(encodeGrpcResponse(args))` gives, without
 * the objects in between.
 *
 * Why: at saturation the edge's main thread is the server's bottleneck (95% of a core at ~12,000
 * single-image calls/s), and the general encoder cost ~12% of it: it builds a response object, an
 * object per `slackserve.*` parameter (eleven per answer), an array of output tensors, two output
 * buffers (one zero-filled), then measures and writes every key as a fresh string. Here the
 * parameter keys, output names and datatypes are constant and encoded once, the values are read
 * from the answer, and the output bytes are written in place.
 *
 * What it covers: the answers every unary gRPC call gets (logits and class, raw or typed). A call
 * that asked for classification strings goes through the general path. Tests hold it byte for byte
 * to protobufjs's encoding of the general path's object (infer-answer-encode.test.ts).
 */
import { lenField, long, PbWriter, setLong, SizePlan, utf8Length, varint64Size } from './pb-writer.js';
import { encodeModelInferResponseFramed } from './infer-wire-encode.js';
import { checkedAnswer, encodeGrpcResponse, type GrpcEncodeArgs as Args } from './tensors.js';
import type { ServedBy } from './types.js';

/** `[0x0a][length][key]`: a map entry's key field, encoded once. */
function keyField(key: string): Buffer {
  const k = Buffer.from(key, 'utf8');
  return Buffer.concat([Buffer.from([0x0a, k.length]), k]);
}

const KEY = {
  subnet: keyField('slackserve.subnet'),
  exit: keyField('slackserve.exit'),
  confidence: keyField('slackserve.confidence'),
  queueUs: keyField('slackserve.queue_us'),
  computeUs: keyField('slackserve.compute_us'),
  serverUs: keyField('slackserve.server_us'),
  outputUs: keyField('slackserve.output_us'),
  deadlineMet: keyField('slackserve.deadline_met'),
  downgraded: keyField('slackserve.downgraded'),
  early: keyField('slackserve.early'),
  deadlineAnswer: keyField('slackserve.deadline_answer'),
} as const;

/** `[0x0a][length][name][0x12][length][datatype]`: an output tensor's name and datatype fields. */
function headField(name: string, datatype: string): Buffer {
  return Buffer.concat([keyField(name), Buffer.from([0x12, datatype.length]), Buffer.from(datatype, 'latin1')]);
}
const LOGITS_HEAD = headField('logits', 'FP32');
const CLASS_HEAD = headField('class', 'INT64');

const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function int64Size(v: number): number {
  setLong(v, false);
  return varint64Size(long.lo, long.hi);
}

/** Sizes of the parts of one answer, measured before the buffer is allocated. */
interface Plan {
  model: number;
  version: number;
  id: number;
  subnet: number;
  exit: number;
  queueUs: number;
  computeUs: number;
  serverUs: number;
  outputUs: number;
  /** Packed varints of [batch, classes], of [batch], and of the classes (typed INT64 contents). */
  shapeLogits: number;
  shapeClass: number;
  classVarints: number;
}

/** One InferParameter entry of the response map (tag 4): key field, then the value message. */
function entrySize(key: Buffer, value: number): number {
  return lenField(key.length + lenField(value));
}

function paramsSize(s: ServedBy, p: Plan): number {
  let n = entrySize(KEY.subnet, lenField(p.subnet)) + entrySize(KEY.exit, lenField(p.exit)) + entrySize(KEY.confidence, 9);
  n += entrySize(KEY.queueUs, 1 + p.queueUs) + entrySize(KEY.computeUs, 1 + p.computeUs);
  if (s.serverUs !== undefined) n += entrySize(KEY.serverUs, 1 + p.serverUs);
  if (s.outputUs !== undefined) n += entrySize(KEY.outputUs, 1 + p.outputUs);
  return n + BOOL_ENTRIES;
}

/** The four bool entries (a bool value is always 2 bytes). */
const BOOL_ENTRIES = entrySize(KEY.deadlineMet, 2) + entrySize(KEY.downgraded, 2) + entrySize(KEY.early, 2) + entrySize(KEY.deadlineAnswer, 2);

/** The writer's plan is unused here: every length is computed inline (Plan above). */
const NO_PLAN = new SizePlan();

function lenString(o: PbWriter, tag: number, s: string, len: number): void {
  o.uint32(tag);
  o.uint32(len);
  o.stringBody(s, len);
}

/** The int64 last given to `setLong`. */
function writeLong(o: PbWriter): void {
  o.varint64(long.lo, long.hi);
}

function writeEntry(o: PbWriter, key: Buffer, value: number): void {
  o.uint32(0x22);
  o.uint32(key.length + lenField(value));
  o.bytesBody(key);
  o.uint32(0x12);
  o.uint32(value);
}

function writeStringEntry(o: PbWriter, key: Buffer, s: string, len: number): void {
  writeEntry(o, key, lenField(len));
  lenString(o, 0x1a, s, len);
}

function writeIntEntry(o: PbWriter, key: Buffer, v: number, size: number): void {
  writeEntry(o, key, 1 + size);
  o.uint32(0x10);
  setLong(v, false);
  writeLong(o);
}

function writeBoolEntry(o: PbWriter, key: Buffer, v: boolean): void {
  writeEntry(o, key, 2);
  o.uint32(0x08);
  o.uint32(v ? 1 : 0);
}

function writeParams(o: PbWriter, s: ServedBy, p: Plan): void {
  writeStringEntry(o, KEY.subnet, s.subnet, p.subnet);
  writeStringEntry(o, KEY.exit, s.exit, p.exit);
  writeEntry(o, KEY.confidence, 9);
  o.uint32(0x21);
  o.double(Number(s.confidence));
  writeIntEntry(o, KEY.queueUs, Math.round(s.queueUs), p.queueUs);
  writeIntEntry(o, KEY.computeUs, Math.round(s.computeUs), p.computeUs);
  if (s.serverUs !== undefined) writeIntEntry(o, KEY.serverUs, Math.round(s.serverUs), p.serverUs);
  if (s.outputUs !== undefined) writeIntEntry(o, KEY.outputUs, Math.round(s.outputUs), p.outputUs);
  writeBoolEntry(o, KEY.deadlineMet, s.deadlineMet);
  writeBoolEntry(o, KEY.downgraded, s.downgraded);
  writeBoolEntry(o, KEY.early, s.early ?? false);
  writeBoolEntry(o, KEY.deadlineAnswer, s.deadlineAnswer ?? false);
}

function varintsSize(values: ArrayLike<number>): number {
  let n = 0;
  for (let i = 0; i < values.length; i++) n += int64Size(values[i]!);
  return n;
}

/** The framed ModelInferResponse (5-byte gRPC prefix included) for `args`. */
export function encodeAnswerFramed(args: Args): Buffer {
  const counts = args.options?.classCounts;
  if (counts !== undefined && counts.size > 0) return encodeModelInferResponseFramed(encodeGrpcResponse(args));
  const { logits, classes } = checkedAnswer(args.answer, args.batch, args.classes);
  const s = args.answer.servedBy;
  const raw = args.raw;
  const p: Plan = {
    model: utf8Length(args.model),
    version: utf8Length(args.version),
    id: utf8Length(args.id),
    subnet: utf8Length(s.subnet),
    exit: utf8Length(s.exit),
    queueUs: int64Size(Math.round(s.queueUs)),
    computeUs: int64Size(Math.round(s.computeUs)),
    serverUs: s.serverUs === undefined ? 0 : int64Size(Math.round(s.serverUs)),
    outputUs: s.outputUs === undefined ? 0 : int64Size(Math.round(s.outputUs)),
    shapeLogits: int64Size(args.batch) + int64Size(args.classes),
    shapeClass: int64Size(args.batch),
    // typed class ids are packed varints (raw ones are 8 bytes each)
    classVarints: raw || !args.outputs.includes('class') ? 0 : varintsSize(classes),
  };
  // each output tensor message: name + datatype, shape, contents when typed
  const outSizes: number[] = [];
  for (const name of args.outputs) {
    if (name === 'logits') {
      let n = LOGITS_HEAD.length + lenField(p.shapeLogits);
      if (!raw) n += lenField(logits.length === 0 ? 0 : lenField(logits.length * 4));
      outSizes.push(n);
    } else {
      let n = CLASS_HEAD.length + lenField(p.shapeClass);
      if (!raw) n += lenField(classes.length === 0 ? 0 : lenField(p.classVarints));
      outSizes.push(n);
    }
  }
  let size = lenField(p.model) + lenField(p.version) + lenField(p.id) + paramsSize(s, p);
  for (const n of outSizes) size += lenField(n);
  if (raw) for (const name of args.outputs) size += lenField(name === 'logits' ? logits.length * 4 : classes.length * 8);

  const o = new PbWriter(size, NO_PLAN, 5);
  const buf = o.buf;
  buf[0] = 0;
  buf.writeUInt32BE(size, 1);
  lenString(o, 0x0a, args.model, p.model);
  lenString(o, 0x12, args.version, p.version);
  lenString(o, 0x1a, args.id, p.id);
  writeParams(o, s, p);
  for (let i = 0; i < args.outputs.length; i++) {
    o.uint32(0x2a);
    o.uint32(outSizes[i]!);
    if (args.outputs[i] === 'logits') writeLogitsTensor(o, args, logits, p);
    else writeClassTensor(o, args, classes, p);
  }
  if (raw) {
    for (const name of args.outputs) {
      o.uint32(0x32);
      if (name === 'logits') {
        o.uint32(logits.length * 4);
        writeFloats(o, logits);
      } else {
        o.uint32(classes.length * 8);
        // class ids are checked integers in [0, classes): the high word is 0
        for (let k = 0; k < classes.length; k++) {
          buf.writeUInt32LE(classes[k]!, o.pos);
          buf.writeUInt32LE(0, o.pos + 4);
          o.pos += 8;
        }
      }
    }
  }
  if (o.pos !== size + 5) throw new Error(`answer encoder: wrote ${o.pos - 5} bytes of a planned ${size}`);
  return buf;
}

/** The logits output tensor's message: name, datatype, shape [batch, classes], typed contents unless raw. */
function writeLogitsTensor(o: PbWriter, args: Args, logits: Float32Array, p: Plan): void {
  o.bytesBody(LOGITS_HEAD);
  o.uint32(0x1a);
  o.uint32(p.shapeLogits);
  setLong(args.batch, false);
  writeLong(o);
  setLong(args.classes, false);
  writeLong(o);
  if (args.raw) return;
  // contents { fp32_contents (6): packed floats }, written as the general path writes them
  o.uint32(0x2a);
  o.uint32(logits.length === 0 ? 0 : lenField(logits.length * 4));
  if (logits.length === 0) return;
  o.uint32(0x32);
  o.uint32(logits.length * 4);
  for (let k = 0; k < logits.length; k++) o.float(logits[k]!);
}

/** The class output tensor's message: name, datatype, shape [batch], typed contents unless raw. */
function writeClassTensor(o: PbWriter, args: Args, classes: ArrayLike<number>, p: Plan): void {
  o.bytesBody(CLASS_HEAD);
  o.uint32(0x1a);
  o.uint32(p.shapeClass);
  setLong(args.batch, false);
  writeLong(o);
  if (args.raw) return;
  // contents { int64_contents (3): packed varints }
  o.uint32(0x2a);
  o.uint32(classes.length === 0 ? 0 : lenField(p.classVarints));
  if (classes.length === 0) return;
  o.uint32(0x1a);
  o.uint32(p.classVarints);
  for (let k = 0; k < classes.length; k++) {
    setLong(classes[k]!, false);
    writeLong(o);
  }
}

function writeFloats(o: PbWriter, a: Float32Array): void {
  if (LITTLE_ENDIAN_HOST) o.bytesBody(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
  else for (let i = 0; i < a.length; i++) o.float(a[i]!);
}
