/**
 * Wire codec micro-benchmark: the hand-written ModelInfer codec (src/api/infer-wire.ts) against
 * protobufjs through proto-loader's (de)serializers, the ones grpc-js would otherwise call.
 *   decode: a ModelInferRequest with 5 SLO parameters and 1 or 16 28x28 images as raw FP32
 *           (plus 1 image as typed fp32_contents), and the worst cases the limits exist for
 *   encode: the 10-class response the server sends (encodeGrpcResponse: logits + class, 9
 *           `slackserve.*` parameters), raw and typed
 * Each rep times a batch of calls of both codecs back to back (interleaved, so drifting background
 * load hits both alike); figures are medians over reps, in µs per call, with ours/protobufjs
 * ratios from the same run. JSON on stdout, also written to --out.
 *
 *   npx tsc -p tsconfig.bench.json && node dist-bench/bench/serving/wire-codec.js --reps 15
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname } from 'node:path';
import { parseArgs } from 'node:util';
import { decodeModelInferRequest, encodeModelInferResponse, isWireDecodeFailure } from '../../src/api/infer-wire.js';
import { loadProtos, type WireModelInferResponse } from '../../src/api/proto.js';
import { SLO_PARAMS } from '../../src/api/slo.js';
import { encodeGrpcResponse } from '../../src/api/tensors.js';

const { values: opt } = parseArgs({
  options: {
    reps: { type: 'string', default: '15' },
    /** Target wall time of one rep of one codec (ms). */
    'rep-ms': { type: 'string', default: '40' },
    /** Warm-up per codec and case before timing (ms). */
    'warm-ms': { type: 'string', default: '500' },
    out: { type: 'string', default: 'bench/results/wire-codec.json' },
    /** Also time protobufjs on the 600k-parameter request (one call, seconds). */
    big: { type: 'string', default: 'on' },
  },
});
const REPS = Number(opt.reps);
const REP_MS = Number(opt['rep-ms']);
const WARM_MS = Number(opt['warm-ms']);
const log = (s: string): boolean => process.stderr.write(`${s}\n`);

const inference = loadProtos().inference;
const pjDecode = inference.ModelInfer!.requestDeserialize as (b: Buffer) => unknown;
const pjEncodeRequest = inference.ModelInfer!.requestSerialize as (r: unknown) => Buffer;
const pjEncode = inference.ModelInfer!.responseSerialize as (r: unknown) => Buffer;

function image(batch: number): Float32Array {
  const x = new Float32Array(batch * 784);
  for (let i = 0; i < x.length; i++) x[i] = ((i * 2654435761) % 1000) / 1000;
  return x;
}

function request(batch: number, typed = false): Buffer {
  const x = image(batch);
  return pjEncodeRequest({
    model_name: 'fmnist-resnet',
    model_version: '',
    id: 'req-000123',
    parameters: {
      [SLO_PARAMS.latencyBudgetMs]: { double_param: 25 },
      [SLO_PARAMS.deadlineUnixMs]: { int64_param: '1795000000025' },
      [SLO_PARAMS.minAccuracy]: { double_param: 0.85 },
      [SLO_PARAMS.sloClass]: { string_param: 'gold' },
      [SLO_PARAMS.sheddable]: { bool_param: true },
    },
    inputs: [{ name: 'input', datatype: 'FP32', shape: [batch, 1, 28, 28], ...(typed ? { contents: { fp32_contents: Array.from(x) } } : {}) }],
    outputs: [{ name: 'logits' }, { name: 'class' }],
    raw_input_contents: typed ? [] : [Buffer.from(x.buffer)],
  });
}

function response(raw: boolean): WireModelInferResponse {
  const logits = new Float32Array(10).map((_, i) => Math.sin(i));
  return encodeGrpcResponse({
    model: 'fmnist-resnet',
    version: '1',
    id: 'req-000123',
    batch: 1,
    classes: 10,
    outputs: ['logits', 'class'],
    raw,
    answer: {
      logits,
      servedBy: { subnet: 'r28_d222_w16-32-64', exit: 'final', confidence: 0.93, queueUs: 412, computeUs: 1730, deadlineMet: true, downgraded: false },
    },
  });
}

/** tag, varint length, body. */
function lenDelimited(tag: number, body: Buffer): Buffer {
  const head = [tag];
  let n = body.length;
  while (n > 0x7f) {
    head.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  head.push(n);
  return Buffer.concat([Buffer.from(head), body]);
}

let sink = 0;
const sizeOf = (v: unknown): number => (Buffer.isBuffer(v) ? v.length : typeof v === 'object' && v !== null ? 1 : 0);

/** Calls per rep so that one rep of `fn` lasts about REP_MS. */
function calibrate(fn: () => unknown): number {
  let n = 1;
  for (;;) {
    const t0 = performance.now();
    for (let i = 0; i < n; i++) sink += sizeOf(fn());
    const ms = performance.now() - t0;
    if (ms > REP_MS / 4 || n > 1e7) return Math.max(1, Math.round((n * REP_MS) / Math.max(ms, 1e-3)));
    n *= 4;
  }
}

function timeUs(fn: () => unknown, n: number): number {
  const t0 = performance.now();
  for (let i = 0; i < n; i++) sink += sizeOf(fn());
  return ((performance.now() - t0) * 1000) / n;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const r3 = (x: number): number => Math.round(x * 1000) / 1000;

interface Pair {
  readonly ours_us: number;
  readonly protobufjs_us: number;
  /** ours / protobufjs (below 1: ours is faster). */
  readonly ratio: number;
  readonly speedup: number;
  readonly bytes: number;
}

/** Runs `fn` for about `ms`, so the JIT has compiled it (and what it calls) before timing. */
function warm(fn: () => unknown, ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) for (let i = 0; i < 100; i++) sink += sizeOf(fn());
}

function pair(name: string, ours: () => unknown, theirs: () => unknown, bytes: number): Pair {
  warm(ours, WARM_MS);
  warm(theirs, WARM_MS);
  const nOurs = calibrate(ours);
  const nTheirs = calibrate(theirs);
  const a: number[] = [];
  const b: number[] = [];
  for (let rep = 0; rep < REPS; rep++) {
    a.push(timeUs(ours, nOurs));
    b.push(timeUs(theirs, nTheirs));
  }
  const o = median(a);
  const t = median(b);
  log(`${name}: ours ${o.toFixed(2)} µs, protobufjs ${t.toFixed(2)} µs (x${(t / o).toFixed(1)})`);
  return { ours_us: r3(o), protobufjs_us: r3(t), ratio: r3(o / t), speedup: Math.round((t / o) * 10) / 10, bytes };
}

function main(): void {
  const decode: Record<string, Pair> = {};
  for (const [name, buf] of [
    ['1-image-raw', request(1)],
    ['16-image-raw', request(16)],
    ['1-image-typed', request(1, true)],
  ] as const) {
    const check = decodeModelInferRequest(buf);
    if (isWireDecodeFailure(check)) throw new Error(`${name}: ${check.message}`);
    decode[name] = pair(`decode ${name}`, () => decodeModelInferRequest(buf), () => pjDecode(buf), buf.length);
  }

  const encode: Record<string, Pair> = {};
  for (const [name, r] of [
    ['10-class-raw', response(true)],
    ['10-class-typed', response(false)],
  ] as const) {
    const bytes = encodeModelInferResponse(r);
    if (!bytes.equals(pjEncode(r))) throw new Error(`${name}: the encoders disagree`);
    encode[name] = pair(`encode ${name}`, () => encodeModelInferResponse(r), () => pjEncode(r), bytes.length);
  }

  // The worst cases: what a limit costs us (rejected), and what the same bytes cost protobufjs.
  const entry = pjEncodeRequest({ parameters: { a: { bool_param: true } } });
  const manyParams = Buffer.concat(Array.from({ length: 600_000 }, () => entry));
  const fp32Max = lenDelimited(0x2a, lenDelimited(0x2a, lenDelimited(0x32, Buffer.alloc(4 << 20))));
  const maxContents = decodeModelInferRequest(fp32Max);
  if (isWireDecodeFailure(maxContents) || maxContents.inputs?.[0]?.contents?.fp32_contents?.length !== 1 << 20)
    throw new Error('the 1<<20 fp32_contents request did not decode to 1<<20 values');
  const worst: Record<string, unknown> = {};
  const once = (fn: () => unknown): number => {
    const t0 = performance.now();
    sink += sizeOf(fn());
    return performance.now() - t0;
  };
  const oursMany = median(Array.from({ length: REPS }, () => once(() => decodeModelInferRequest(manyParams)) * 1000));
  worst['600k-parameters'] = {
    bytes: manyParams.length,
    ours_us: r3(oursMany),
    ours_result: (decodeModelInferRequest(manyParams) as { message: string }).message,
    protobufjs_ms: opt.big === 'on' ? Math.round(once(() => pjDecode(manyParams))) : null,
  };
  const oursMax = median(Array.from({ length: 5 }, () => once(() => decodeModelInferRequest(fp32Max))));
  worst['fp32-contents-1<<20'] = {
    bytes: fp32Max.length,
    ours_ms: r3(oursMax),
    ours_ns_per_value: r3((oursMax * 1e6) / (1 << 20)),
    protobufjs_ms: r3(median(Array.from({ length: 5 }, () => once(() => pjDecode(fp32Max))))),
  };
  log(`worst cases: ${JSON.stringify(worst)}`);

  const result = {
    benchmark: 'wire-codec',
    date: new Date().toISOString(),
    node: process.version,
    cpu: cpus()[0]?.model ?? 'unknown',
    reps: REPS,
    decode,
    encode,
    worst,
  };
  const json = JSON.stringify(result, null, 2);
  process.stdout.write(`${json}\n`);
  if (opt.out) {
    mkdirSync(dirname(opt.out), { recursive: true });
    writeFileSync(opt.out, `${json}\n`);
  }
  if (sink === 0) log('(sink)');
}

main();
