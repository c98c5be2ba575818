/**
 * Triton's own API surface against a real server process, over real gRPC and HTTP: model
 * configuration, statistics and repository index (and model control refused), the binary tensor
 * data extension (byte framing both ways), the classification extension (Triton's strings), the
 * 413 a client can read, and the nv_* metric families counting every failure. Field numbers and tag
 * bytes are checked where Triton's public protos fix them.
 */
import { connect as netConnect } from 'node:net';
import { gzipSync } from 'node:zlib';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import protobuf from 'protobufjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { classificationStrings, parseBytesTensor } from '../../src/api/outputs.js';
import { PROTO_DIR } from '../../src/api/proto.js';
import { Catalogue } from '../../src/supernet/catalogue.js';
import { loadSample, SUPERNET_DIR } from '../helpers.js';
import { type ServeProcess, spawnServe } from '../serve-process.js';

const cat = Catalogue.load(SUPERNET_DIR);
const { x } = loadSample(cat);
const MODEL = cat.manifest.name;
const INPUT = cat.manifest.input.name;
const LABELS = cat.manifest.dataset.classes;
const SAMPLE = 784;
const BODY_LIMIT = 64 * 1024;

const def = protoLoader.loadSync('grpc_service.proto', { includeDirs: [PROTO_DIR], keepCase: true, longs: String, enums: String, defaults: true, oneofs: true });
const pkg = grpc.loadPackageDefinition(def) as unknown as { inference: { GRPCInferenceService: grpc.ServiceClientConstructor } };

type Unary = (req: unknown, cb: (err: grpc.ServiceError | null, res: any) => void) => void;

let s: ServeProcess;
let client: grpc.Client;
let base: string;

function call(method: string, req: unknown): Promise<any> {
  return new Promise((resolve, reject) => {
    const fn = (client as unknown as Record<string, Unary>)[method]!.bind(client);
    fn(req, (err, res) => (err ? reject(err) : resolve(res)));
  });
}

function callError(method: string, req: unknown): Promise<grpc.ServiceError> {
  return call(method, req).then(
    () => {
      throw new Error(`${method} succeeded`);
    },
    (e: grpc.ServiceError) => e,
  );
}

const image = (batch: number): Buffer => Buffer.from(x.buffer, x.byteOffset, batch * SAMPLE * 4);

function inferRequest(batch: number, over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    model_name: MODEL,
    inputs: [{ name: INPUT, datatype: 'FP32', shape: [batch, 1, 28, 28] }],
    parameters: { 'slackserve.latency_budget_ms': { int64_param: 20_000 } },
    raw_input_contents: [image(batch)],
    ...over,
  };
}

async function metrics(): Promise<string> {
  return (await fetch(`${base}/metrics`)).text();
}

/** The value of one sample line (labels in any order, given as a subset). */
function sample(text: string, name: string, labels: Record<string, string>): number {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return NaN;
}

beforeAll(async () => {
  s = await spawnServe('serve', ['--threads', '1', '--policy', 'static-smallest'], { SLACKSERVE_HTTP_BODY_LIMIT_BYTES: String(BODY_LIMIT) });
  client = new pkg.inference.GRPCInferenceService(`127.0.0.1:${s.grpcPort}`, grpc.credentials.createInsecure());
  base = `http://127.0.0.1:${s.httpPort}`;
}, 40_000);
afterAll(async () => {
  client?.close();
  await s?.stop();
});

describe('model configuration', () => {
  it('gRPC ModelConfig: max_batch_size, tensors without the batch dim, dynamic batching, supernet parameters', async () => {
    const { config } = await call('ModelConfig', { name: MODEL });
    expect(config.name).toBe(MODEL);
    expect(config.max_batch_size).toBe(64);
    expect(config.input).toEqual([{ name: INPUT, data_type: 'TYPE_FP32', format: 'FORMAT_NCHW', dims: ['1', '28', '28'] }]);
    expect(config.output.map((o: any) => [o.name, o.data_type, o.dims])).toEqual([
      ['logits', 'TYPE_FP32', ['10']],
      ['class', 'TYPE_INT64', []],
    ]);
    expect(config.scheduling_choice).toBe('dynamic_batching');
    expect(config.dynamic_batching.default_queue_policy.allow_timeout_override).toBe(true);
    expect(config.instance_group[0].kind).toBe('KIND_CPU');
    expect(config.parameters['slackserve.subnets'].string_value.split(',')).toContain(cat.pareto[0]!.id);
    expect(config.parameters['slackserve.policy'].string_value).toBe('static-smallest');
    expect(config.parameters['slackserve.exits'].string_value).toBe('off');
    const unknown = await callError('ModelConfig', { name: 'nope' });
    expect(unknown.code).toBe(grpc.status.NOT_FOUND);
  });

  it('the ModelConfig bytes carry Triton field numbers (max_batch_size = 4 -> tag 0x20, input = 5 -> 0x2a)', async () => {
    const bytes: Buffer = await new Promise((resolve, reject) =>
      client.makeUnaryRequest(
        '/inference.GRPCInferenceService/ModelConfig',
        (b: Buffer) => b,
        (b: Buffer) => b,
        Buffer.from([0x0a, MODEL.length, ...Buffer.from(MODEL)]),
        (err, res) => (err ? reject(err) : resolve(res!)),
      ),
    );
    // ModelConfigResponse.config = 1 (0x0a, length), then ModelConfig: name = 1 first
    expect(bytes[0]).toBe(0x0a);
    const root = protobuf.parse(TRITON_FIELDS_PROTO, { keepCase: true }).root;
    const T = root.lookupType('check.ModelConfigResponse');
    const decoded = T.toObject(T.decode(bytes), { longs: Number }) as any;
    expect(decoded.config.max_batch_size).toBe(64);
    expect(decoded.config.input[0].dims).toEqual([1, 28, 28]);
    expect(decoded.config.input[0].data_type).toBe(11); // TYPE_FP32
    const inner = bytes.subarray(bytes[1]! & 0x80 ? 3 : 2);
    expect(inner.includes(Buffer.from([0x20, 0x40]))).toBe(true); // max_batch_size = 64
  });

  it('HTTP /v2/models/{m}/config answers the same configuration as JSON', async () => {
    const r = await fetch(`${base}/v2/models/${MODEL}/config`);
    expect(r.status).toBe(200);
    const c = (await r.json()) as any;
    expect(c.max_batch_size).toBe(64);
    expect(c.input[0]).toEqual({ name: INPUT, data_type: 'TYPE_FP32', format: 'FORMAT_NCHW', dims: [1, 28, 28] });
    expect(c.dynamic_batching.default_queue_policy.max_queue_size).toBeGreaterThan(0);
    expect(Object.keys(c.parameters)).toContain('slackserve.pareto');
    expect((await fetch(`${base}/v2/models/${MODEL}/versions/1/config`)).status).toBe(200);
    expect((await fetch(`${base}/v2/models/nope/config`)).status).toBe(404);
  });
});

describe('repository', () => {
  it('gRPC and HTTP index list the model READY; load/unload are refused with a reason', async () => {
    const { models } = await call('RepositoryIndex', { ready: true });
    expect(models).toEqual([{ name: MODEL, version: '1', state: 'READY', reason: '' }]);
    const r = await fetch(`${base}/v2/repository/index`, { method: 'POST', body: '{}' });
    expect(await r.json()).toEqual([{ name: MODEL, version: '1', state: 'READY', reason: '' }]);
    const load = await callError('RepositoryModelLoad', { model_name: MODEL });
    expect(load.code).toBe(grpc.status.UNIMPLEMENTED);
    expect(load.details).toMatch(/model load is not supported: slackserve serves one supernet fixed at startup/);
    const unload = await fetch(`${base}/v2/repository/models/${MODEL}/unload`, { method: 'POST' });
    expect(unload.status).toBe(501);
    expect(((await unload.json()) as any).error).toMatch(/model unload is not supported/);
  });
});

describe('statistics and nv_* metrics', () => {
  it('count successes, samples, queue and compute time; every failure, by reason', async () => {
    const before = (await call('ModelStatistics', { name: MODEL })).model_stats[0];
    const m0 = await metrics();
    for (let i = 0; i < 3; i++) await call('ModelInfer', inferRequest(2));
    // failures before the queue: bad shape (INVALID_ARGUMENT), unknown model (NOT_FOUND), too many inputs
    expect((await callError('ModelInfer', inferRequest(1, { inputs: [{ name: INPUT, datatype: 'FP32', shape: [1, 28, 28] }] }))).code).toBe(grpc.status.INVALID_ARGUMENT);
    expect((await callError('ModelInfer', inferRequest(1, { model_name: 'nope' }))).code).toBe(grpc.status.NOT_FOUND);
    // over the decoder's parameter limit: RESOURCE_EXHAUSTED before the model name is known
    const many = Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`p${i}`, { int64_param: i }]));
    expect((await callError('ModelInfer', inferRequest(1, { parameters: many }))).code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    const bad = await fetch(`${base}/v2/models/${MODEL}/infer`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"inputs": 5}' });
    expect(bad.status).toBe(400);

    const after = (await call('ModelStatistics', { name: MODEL, version: '1' })).model_stats[0];
    const d = (k: string, f: 'count' | 'ns') => Number(after.inference_stats[k][f]) - Number(before.inference_stats[k][f]);
    expect(after.name).toBe(MODEL);
    expect(d('success', 'count')).toBe(3);
    expect(d('success', 'ns')).toBeGreaterThan(0);
    expect(d('queue', 'count')).toBe(3);
    expect(d('compute_infer', 'count')).toBe(3);
    expect(d('compute_infer', 'ns')).toBeGreaterThan(0);
    // the input copy and the reply are timed apart (Triton's compute_input / compute_output)
    expect(d('compute_input', 'count')).toBe(3);
    expect(d('compute_input', 'ns')).toBeGreaterThan(0);
    expect(d('compute_output', 'ns')).toBeGreaterThan(0);
    expect(d('fail', 'count')).toBe(2); // the unknown model is not this model's failure
    expect(Number(after.inference_count) - Number(before.inference_count)).toBe(6);
    expect(Number(after.execution_count)).toBeGreaterThan(Number(before.execution_count));
    expect(Number(after.last_inference)).toBeGreaterThan(Date.now() - 60_000);

    const http = (await (await fetch(`${base}/v2/models/${MODEL}/stats`)).json()) as any;
    expect(http.model_stats[0].inference_stats.success.count).toBe(Number(after.inference_stats.success.count));
    expect(((await (await fetch(`${base}/v2/models/stats`)).json()) as any).model_stats.map((m: any) => m.name)).toContain(MODEL);

    const m1 = await metrics();
    const l = { model: MODEL, version: '1' };
    const delta = (name: string, labels: Record<string, string> = l) => sample(m1, name, labels) - (sample(m0, name, labels) || 0);
    expect(delta('nv_inference_request_success')).toBe(3);
    expect(delta('nv_inference_count')).toBe(6);
    expect(delta('nv_inference_request_failure', { ...l, reason: 'OTHER' })).toBe(2);
    expect(delta('nv_inference_request_failure', { model: '', version: '', reason: 'OTHER' })).toBe(2);
    expect(delta('nv_inference_queue_duration_us')).toBeGreaterThan(0);
    expect(delta('nv_inference_compute_infer_duration_us')).toBeGreaterThan(0);
    expect(delta('nv_inference_request_duration_us')).toBeGreaterThan(0);
    expect(sample(m1, 'nv_inference_exec_count', l)).toBeGreaterThan(0);
    expect(sample(m1, 'nv_inference_pending_request_count', l)).toBe(0);
    for (const name of ['nv_inference_compute_input_duration_us', 'nv_inference_compute_output_duration_us']) expect(m1).toMatch(new RegExp(`^# TYPE ${name} counter$`, 'm'));
    // our own families count the same failures
    expect(sample(m1, 'slackserve_inference_request_failure', { model: MODEL, reason: 'OTHER' }) - (sample(m0, 'slackserve_inference_request_failure', { model: MODEL, reason: 'OTHER' }) || 0)).toBe(2);
  });
});

/** A binary-extension request body: JSON header then the raw FP32 input. */
function binaryRequest(batch: number, header: Record<string, unknown> = {}): { body: Buffer; headerLength: number } {
  const json = Buffer.from(
    JSON.stringify({ inputs: [{ name: INPUT, datatype: 'FP32', shape: [batch, 1, 28, 28], parameters: { binary_data_size: batch * SAMPLE * 4 } }], parameters: { 'slackserve.latency_budget_ms': 20_000 }, ...header }),
  );
  return { body: Buffer.concat([json, image(batch)]), headerLength: json.length };
}

/** Splits a binary-extension response into its JSON header and each binary output. */
function splitBinary(res: Response, bytes: Buffer): { json: any; parts: Map<string, Buffer> } {
  const n = Number(res.headers.get('inference-header-content-length'));
  const json = JSON.parse(bytes.toString('utf8', 0, n));
  const parts = new Map<string, Buffer>();
  let off = n;
  for (const o of json.outputs) {
    const size = o.parameters?.binary_data_size;
    if (size === undefined) continue;
    parts.set(o.name, bytes.subarray(off, off + size));
    off += size;
  }
  expect(off).toBe(bytes.length);
  return { json, parts };
}

describe('binary tensor data extension (HTTP)', () => {
  it('reads the input after the JSON header and answers outputs in binary, bytes matching the JSON answer', async () => {
    const json = await fetch(`${base}/v2/models/${MODEL}/infer`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ inputs: [{ name: INPUT, datatype: 'FP32', shape: [2, 1, 28, 28], data: Array.from(x.subarray(0, 2 * SAMPLE)) }], parameters: { 'slackserve.latency_budget_ms': 20_000 } }),
    });
    const plain = (await json.json()) as any;
    // Triton's Python client: no content type, binary input, binary_data_output for every output
    const { body, headerLength } = binaryRequest(2, { parameters: { binary_data_output: true, 'slackserve.latency_budget_ms': 20_000 } });
    const r = await fetch(`${base}/v2/models/${MODEL}/infer`, { method: 'POST', headers: { 'inference-header-content-length': String(headerLength) }, body });
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toBe('application/octet-stream');
    const { json: head, parts } = splitBinary(r, Buffer.from(await r.arrayBuffer()));
    expect(head.outputs.map((o: any) => [o.name, o.datatype, o.shape, o.parameters.binary_data_size, o.data])).toEqual([
      ['logits', 'FP32', [2, 10], 80, undefined],
      ['class', 'INT64', [2], 16, undefined],
    ]);
    const logits = new Float32Array(new Uint8Array(parts.get('logits')!).buffer);
    expect(Array.from(logits)).toEqual(plain.outputs[0].data.map((v: number) => Math.fround(v)));
    const classes = parts.get('class')!;
    expect([Number(classes.readBigInt64LE(0)), Number(classes.readBigInt64LE(8))]).toEqual(plain.outputs[1].data);
  });

  it('mixes JSON and binary outputs per output, and accepts a gzip body', async () => {
    const { body, headerLength } = binaryRequest(1, { outputs: [{ name: 'class', parameters: { binary_data: false } }, { name: 'logits', parameters: { binary_data: true } }] });
    const r = await fetch(`${base}/v2/models/${MODEL}/infer`, { method: 'POST', headers: { 'inference-header-content-length': String(headerLength), 'content-encoding': 'gzip' }, body: gzipSync(body) });
    expect(r.status).toBe(200);
    const { json, parts } = splitBinary(r, Buffer.from(await r.arrayBuffer()));
    expect(json.outputs[0].name).toBe('class');
    expect(json.outputs[0].data).toHaveLength(1);
    expect(parts.get('logits')!.length).toBe(40);
  });

  it('rejects malformed framing with a precise 400', async () => {
    const post = (headers: Record<string, string>, body: Buffer) => fetch(`${base}/v2/models/${MODEL}/infer`, { method: 'POST', headers, body });
    const { body, headerLength } = binaryRequest(1);
    const cases: [Record<string, string>, Buffer, RegExp][] = [
      [{ 'inference-header-content-length': String(body.length + 1) }, body, /but the body has only/],
      [{ 'inference-header-content-length': 'abc' }, body, /must be the JSON header's size/],
      [{ 'inference-header-content-length': String(headerLength) }, body.subarray(0, body.length - 4), /binary section holds 3132 bytes/],
      [{ 'inference-header-content-length': String(headerLength - 1) }, body, /invalid JSON/],
    ];
    for (const [h, b, msg] of cases) {
      const r = await post(h, b);
      expect(r.status).toBe(400);
      expect(((await r.json()) as any).error).toMatch(msg);
    }
    expect(s.alive()).toBe(true);
  });
});

describe('classification extension', () => {
  it('HTTP JSON, HTTP binary and gRPC answer Triton strings "score:index:label", top k first', async () => {
    const r0 = await call('ModelInfer', inferRequest(2, { outputs: [{ name: 'logits' }] }));
    const logits = new Float32Array(new Uint8Array(r0.raw_output_contents[0]).buffer);
    const expected = classificationStrings(logits, 2, 10, 3, LABELS);
    // by hand for the first answer: the top logit of row 0, formatted as C's %f, its index and label
    let top = 0;
    for (let c = 1; c < 10; c++) if (logits[c]! > logits[top]!) top = c;
    expect(expected[0]).toBe(`${logits[top]!.toFixed(6)}:${top}:${LABELS[top]}`);

    const g = await call('ModelInfer', inferRequest(2, { outputs: [{ name: 'logits', parameters: { classification: { int64_param: 3 } } }] }));
    expect([g.outputs[0].datatype, g.outputs[0].shape]).toEqual(['BYTES', ['2', '3']]);
    expect(parseBytesTensor(g.raw_output_contents[0])).toEqual(expected);

    const typed = await call('ModelInfer', { ...inferRequest(2, { outputs: [{ name: 'logits', parameters: { classification: { int64_param: 3 } } }] }), raw_input_contents: [], inputs: [{ name: INPUT, datatype: 'FP32', shape: [2, 1, 28, 28], contents: { fp32_contents: Array.from(x.subarray(0, 2 * SAMPLE)) } }] });
    expect(typed.outputs[0].contents.bytes_contents.map((b: Buffer) => b.toString())).toEqual(expected);

    const j = await fetch(`${base}/v2/models/${MODEL}/infer`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ inputs: [{ name: INPUT, datatype: 'FP32', shape: [2, 1, 28, 28], data: Array.from(x.subarray(0, 2 * SAMPLE)) }], outputs: [{ name: 'logits', parameters: { classification: 3 } }] }),
    });
    const jb = (await j.json()) as any;
    expect(jb.outputs[0]).toEqual({ name: 'logits', datatype: 'BYTES', shape: [2, 3], data: expected });

    const { body, headerLength } = binaryRequest(2, { outputs: [{ name: 'logits', parameters: { classification: 3, binary_data: true } }] });
    const b = await fetch(`${base}/v2/models/${MODEL}/infer`, { method: 'POST', headers: { 'inference-header-content-length': String(headerLength) }, body });
    const { parts } = splitBinary(b, Buffer.from(await b.arrayBuffer()));
    const bytes = parts.get('logits')!;
    // Triton's BYTES framing: a 4-byte little-endian length before each string
    expect(bytes.readUInt32LE(0)).toBe(Buffer.byteLength(expected[0]!));
    expect(parseBytesTensor(bytes)).toEqual(expected);
  });

  it('caps k at the classes, rejects k < 1 and classification of the class output', async () => {
    const all = await call('ModelInfer', inferRequest(1, { outputs: [{ name: 'logits', parameters: { classification: { int64_param: 50 } } }] }));
    expect(all.outputs[0].shape).toEqual(['1', '10']);
    const zero = await callError('ModelInfer', inferRequest(1, { outputs: [{ name: 'logits', parameters: { classification: { int64_param: 0 } } }] }));
    expect([zero.code, zero.details]).toEqual([grpc.status.INVALID_ARGUMENT, expect.stringMatching(/classification must be a positive integer/)]);
    const cls = await callError('ModelInfer', inferRequest(1, { outputs: [{ name: 'class', parameters: { classification: { int64_param: 1 } } }] }));
    expect(cls.details).toMatch(/applies to 'logits'/);
  });
});

/** Sends raw HTTP/1.1 bytes, all of them, then reads the whole answer (what Python clients do). */
function rawHttp(head: string, body: Buffer, chunks = 1): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = netConnect(s.httpPort, '127.0.0.1');
    let out = '';
    sock.on('data', (d) => (out += d.toString()));
    sock.on('error', (e) => reject(new Error(`socket error after ${out.length} bytes of answer: ${e.message}`)));
    sock.on('close', () => resolve(out));
    sock.on('connect', async () => {
      sock.write(head);
      const step = Math.ceil(body.length / chunks);
      for (let i = 0; i < body.length; i += step) {
        if (!sock.write(body.subarray(i, i + step))) await new Promise((r) => sock.once('drain', r));
      }
    });
  });
}

describe('413 a client can read', () => {
  // larger than the loopback socket buffers, so a server that closes early resets the sender
  const big = Buffer.alloc(24 * 1024 * 1024, 0x20);
  it('Content-Length over the limit: 413 with a JSON reason, after the client sent everything', async () => {
    const out = await rawHttp(`POST /v2/models/${MODEL}/infer HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: ${big.length}\r\n\r\n`, big, 64);
    expect(out).toMatch(/^HTTP\/1\.1 413 /);
    expect(out).toContain(`exceeds the limit of ${BODY_LIMIT} bytes`);
  });

  it('a chunked body that passes the limit while streaming: 413, connection closed cleanly', async () => {
    const chunked = Buffer.concat([Buffer.from(`${big.length.toString(16)}\r\n`), big, Buffer.from('\r\n0\r\n\r\n')]);
    const out = await rawHttp(`POST /v2/models/${MODEL}/infer HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n`, chunked, 64);
    expect(out).toMatch(/^HTTP\/1\.1 413 /);
    expect(out.toLowerCase()).toContain('connection: close');
    expect((await fetch(`${base}/v2/health/live`)).status).toBe(200);
  });
});

/** Triton's field numbers for the messages checked above, written independently of proto/. */
const TRITON_FIELDS_PROTO = `
syntax = "proto3";
package check;
message ModelInput { string name = 1; int32 data_type = 2; int32 format = 3; repeated int64 dims = 4; }
message ModelConfig { string name = 1; string platform = 2; int32 max_batch_size = 4; repeated ModelInput input = 5; }
message ModelConfigResponse { ModelConfig config = 1; }
`;

describe('the wire contract of the added messages', () => {
  it('every field number matches Triton grpc_service.proto / model_config.proto', () => {
    const root = protobuf.loadSync(`${PROTO_DIR}grpc_service.proto`);
    const expected: Record<string, Record<string, number>> = {
      ModelConfigRequest: { name: 1, version: 2 },
      ModelConfigResponse: { config: 1 },
      ModelStatisticsRequest: { name: 1, version: 2 },
      StatisticDuration: { count: 1, ns: 2 },
      InferStatistics: { success: 1, fail: 2, queue: 3, computeInput: 4, computeInfer: 5, computeOutput: 6, cacheHit: 7, cacheMiss: 8 },
      InferBatchStatistics: { batchSize: 1, computeInput: 2, computeInfer: 3, computeOutput: 4 },
      ModelStatistics: { name: 1, version: 2, lastInference: 3, inferenceCount: 4, executionCount: 5, inferenceStats: 6, batchStats: 7 },
      ModelStatisticsResponse: { modelStats: 1 },
      RepositoryIndexRequest: { repositoryName: 1, ready: 2 },
      RepositoryIndexResponse: { models: 1 },
      'RepositoryIndexResponse.ModelIndex': { name: 1, version: 2, state: 3, reason: 4 },
      RepositoryModelLoadRequest: { repositoryName: 1, modelName: 2, parameters: 3 },
      RepositoryModelUnloadRequest: { repositoryName: 1, modelName: 2, parameters: 3 },
      ModelRepositoryParameter: { boolParam: 1, int64Param: 2, stringParam: 3, bytesParam: 4 },
      ModelInput: { name: 1, dataType: 2, format: 3, dims: 4 },
      ModelOutput: { name: 1, dataType: 2, dims: 3, labelFilename: 4 },
      ModelVersionPolicy: { latest: 1, all: 2, specific: 3 },
      ModelQueuePolicy: { timeoutAction: 1, defaultTimeoutMicroseconds: 2, allowTimeoutOverride: 3, maxQueueSize: 4 },
      ModelDynamicBatching: { preferredBatchSize: 1, maxQueueDelayMicroseconds: 2, preserveOrdering: 3, priorityLevels: 4, defaultPriorityLevel: 5, defaultQueuePolicy: 6 },
      ModelInstanceGroup: { name: 1, count: 2, kind: 4 },
      ModelParameter: { stringValue: 1 },
      ModelConfig: { name: 1, platform: 2, versionPolicy: 3, maxBatchSize: 4, input: 5, output: 6, instanceGroup: 7, dynamicBatching: 11, parameters: 14, backend: 17 },
    };
    for (const [name, fields] of Object.entries(expected)) {
      const T = root.lookupType(`inference.${name}`);
      expect(Object.fromEntries(Object.values(T.fields).map((f) => [f.name, f.id])), name).toEqual(fields);
    }
    expect(root.lookupEnum('inference.DataType').values).toMatchObject({ TYPE_INVALID: 0, TYPE_FP32: 11, TYPE_INT64: 9, TYPE_STRING: 13, TYPE_BF16: 14 });
    const svc = root.lookupService('inference.GRPCInferenceService');
    expect(svc.methods['ModelConfig']!.responseType).toBe('ModelConfigResponse');
    expect(svc.methods['ModelStatistics']!.requestType).toBe('ModelStatisticsRequest');
  });
});
