/**
 * Limits a hostile or careless client meets, over real sockets against a real server process:
 * bursts on one connection past the stream limit and past the in-flight limit, half-open calls,
 * oversized parameter maps and input lists, undecodable bytes. Past a limit the client gets
 * RESOURCE_EXHAUSTED (or DEADLINE_EXCEEDED for a body that never came) with a message, never a torn
 * connection; after each case the server still answers.
 */
import { connect as h2connect, constants as h2 } from 'node:http2';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROTO_DIR } from '../../src/api/proto.js';
import { OipClient } from '../../src/client/oip-client.js';
import { Catalogue } from '../../src/supernet/catalogue.js';
import { loadSample, SUPERNET_DIR } from '../helpers.js';
import { type ServeProcess, spawnServe } from '../serve-process.js';

const cat = Catalogue.load(SUPERNET_DIR);
const { x } = loadSample(cat);
const MODEL = cat.manifest.name;
const INPUT = cat.manifest.input.name;
const STREAMS = 50;
const INFLIGHT = 300;
const READ_TIMEOUT_MS = 300;
const METHOD = '/inference.GRPCInferenceService/ModelInfer';

const def = protoLoader.loadSync('grpc_service.proto', { includeDirs: [PROTO_DIR], keepCase: true, longs: String, enums: String, defaults: true, oneofs: true });
const pkg = grpc.loadPackageDefinition(def) as unknown as { inference: { GRPCInferenceService: grpc.ServiceClientConstructor } };
const serializeRequest = (pkg.inference.GRPCInferenceService.service['ModelInfer'] as grpc.MethodDefinition<unknown, unknown>).requestSerialize;

let s: ServeProcess;
beforeAll(async () => {
  s = await spawnServe('serve', ['--threads', '1', '--policy', 'static-smallest'], {
    SLACKSERVE_GRPC_MAX_CONCURRENT_STREAMS: String(STREAMS),
    SLACKSERVE_MAX_INFLIGHT: String(INFLIGHT),
    // These tests are about the edge's limits, not admission. On a CPU-starved machine (the full
    // suite on 2 cores) admission shed part of the 600-call burst with UNAVAILABLE: while the event
    // loop takes the burst in, answers reach the frontend at ~10 images/s, and admission reads that
    // as the drain rate (docs/serving.md, "Admission during a burst's intake"). Off, the limits are
    // what these tests see.
    SLACKSERVE_ADMISSION: 'off',
  });
}, 40_000);
afterAll(async () => s?.stop());

interface Outcome {
  readonly code: number;
  readonly details: string;
}

function request(over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    model_name: MODEL,
    inputs: [{ name: INPUT, datatype: 'FP32', shape: [1, 1, 28, 28] }],
    parameters: { 'slackserve.latency_budget_ms': { int64_param: 20_000 } },
    raw_input_contents: [Buffer.from(x.buffer, x.byteOffset, 784 * 4)],
    ...over,
  };
}

/** A unary ModelInfer with arbitrary request bytes (identity serializer): the status only. */
function callRaw(client: grpc.Client, bytes: Buffer): Promise<Outcome> {
  return new Promise((resolve) => {
    client.makeUnaryRequest(
      METHOD,
      (b: Buffer) => b,
      (b: Buffer) => b,
      bytes,
      new grpc.Metadata(),
      { deadline: Date.now() + 30_000 },
      (err) => resolve(err ? { code: err.code, details: err.details } : { code: grpc.status.OK, details: '' }),
    );
  });
}

const rawClient = (): grpc.Client => new grpc.Client(`127.0.0.1:${s.grpcPort}`, grpc.credentials.createInsecure());

async function stillAnswers(): Promise<void> {
  expect(s.alive(), s.output()).toBe(true);
  const client = new OipClient(`127.0.0.1:${s.grpcPort}`);
  const r = await client.infer({ model: MODEL, images: x.slice(0, 784), shape: [1, 1, 28, 28], inputName: INPUT, params: { 'slackserve.latency_budget_ms': 5000 } });
  client.close();
  expect(r.classes).toHaveLength(1);
}

const tally = (outs: readonly Outcome[]): Record<string, number> => {
  const t: Record<string, number> = {};
  for (const o of outs) t[grpc.status[o.code] ?? String(o.code)] = (t[grpc.status[o.code] ?? String(o.code)] ?? 0) + 1;
  return t;
};

describe('limits', () => {
  it(`a burst of ${STREAMS * 5} calls on one connection (stream limit ${STREAMS}) is answered in full: the client queues past the limit`, async () => {
    const client = rawClient();
    const body = serializeRequest(request());
    const outs = await Promise.all(Array.from({ length: STREAMS * 5 }, () => callRaw(client, body)));
    client.close();
    expect(tally(outs)).toEqual({ OK: STREAMS * 5 });
    await stillAnswers();
  }, 60_000);

  it(`past ${INFLIGHT} calls in flight (several connections), the rest get RESOURCE_EXHAUSTED with a message; none is torn`, async () => {
    // distinct channels: one connection each, so the stream limit does not hold them back
    const clients = Array.from({ length: 12 }, () => new grpc.Client(`127.0.0.1:${s.grpcPort}`, grpc.credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1 }));
    const body = serializeRequest(request());
    const outs = await Promise.all(Array.from({ length: 12 * STREAMS }, (_, i) => callRaw(clients[i % 12]!, body)));
    for (const c of clients) c.close();
    const t = tally(outs);
    expect(Object.keys(t).sort(), JSON.stringify(t)).toEqual(expect.arrayContaining(['OK']));
    expect(Object.keys(t).every((k) => k === 'OK' || k === 'RESOURCE_EXHAUSTED'), JSON.stringify(t)).toBe(true);
    for (const o of outs.filter((o) => o.code === grpc.status.RESOURCE_EXHAUSTED)) expect(o.details).toMatch(/maxInflight/);
    await stillAnswers();
  }, 60_000);

  it('half-open calls (headers, no body) are ended with DEADLINE_EXCEEDED after the read timeout', async () => {
    const quick = await spawnServe('serve', ['--threads', '1', '--policy', 'static-smallest'], { SLACKSERVE_REQUEST_READ_TIMEOUT_MS: String(READ_TIMEOUT_MS) });
    try {
      const session = h2connect(`http://127.0.0.1:${quick.grpcPort}`);
      const statuses = await Promise.all(
        Array.from(
          { length: 20 },
          () =>
            new Promise<string>((resolve) => {
              const st = session.request({ [h2.HTTP2_HEADER_METHOD]: 'POST', [h2.HTTP2_HEADER_PATH]: METHOD, 'content-type': 'application/grpc', te: 'trailers' }, { endStream: false });
              const done = (status: unknown): void => {
                if (status === undefined) return;
                resolve(String(status));
                st.destroy();
              };
              st.on('response', (headers) => done(headers['grpc-status']));
              st.on('trailers', (trailers) => done(trailers['grpc-status']));
              st.on('close', () => resolve('closed without a status'));
              st.on('error', () => resolve('stream error'));
              st.write(Buffer.from([0, 0, 0, 0x10, 0])); // a frame header promising 4096 bytes that never come
              st.resume();
            }),
        ),
      );
      session.close();
      expect(new Set(statuses)).toEqual(new Set([String(grpc.status.DEADLINE_EXCEEDED)]));
      expect(quick.alive()).toBe(true);
    } finally {
      await quick.stop();
    }
    await stillAnswers();
  }, 40_000);

  it('a message over the size limit: RESOURCE_EXHAUSTED', async () => {
    const client = rawClient();
    const o = await callRaw(client, serializeRequest(request({ raw_input_contents: [Buffer.alloc(5 * 1024 * 1024)] })));
    client.close();
    expect(grpc.status[o.code]).toBe('RESOURCE_EXHAUSTED');
    expect(o.details).toMatch(/larger than max/);
    await stillAnswers();
  }, 30_000);

  it('150,000 request parameters (under the size limit): RESOURCE_EXHAUSTED naming the limit, in a short message', async () => {
    const params: Record<string, unknown> = {};
    for (let i = 0; i < 150_000; i++) params[`p${i}`] = { bool_param: true };
    const client = rawClient();
    const o = await callRaw(client, serializeRequest(request({ parameters: params })));
    client.close();
    expect(grpc.status[o.code]).toBe('RESOURCE_EXHAUSTED');
    expect(o.details).toMatch(/parameters/);
    expect(o.details.length).toBeLessThan(300);
    await stillAnswers();
  }, 60_000);

  it('10,000 inputs: an error status the client receives, bounded in size', async () => {
    const inputs = Array.from({ length: 10_000 }, (_, i) => ({ name: `input-with-a-long-name-${i}`, datatype: 'FP32', shape: [1, 1, 28, 28] }));
    const client = rawClient();
    const o = await callRaw(client, serializeRequest(request({ inputs })));
    client.close();
    expect(['RESOURCE_EXHAUSTED', 'INVALID_ARGUMENT']).toContain(grpc.status[o.code]);
    expect(o.details).toMatch(/input/);
    expect(o.details.length).toBeLessThan(600);
    await stillAnswers();
  }, 60_000);

  it('undecodable bytes: INVALID_ARGUMENT, and the connection serves the next call', async () => {
    const client = rawClient();
    const garbage = [Buffer.from([0xff, 0xff, 0xff]), Buffer.from('this is not protobuf at all'), Buffer.from([0x0a, 0x7f, 0x41])];
    for (const g of garbage) {
      const o = await callRaw(client, g);
      expect(grpc.status[o.code], o.details).toBe('INVALID_ARGUMENT');
    }
    const ok = await callRaw(client, serializeRequest(request()));
    expect(grpc.status[ok.code], ok.details).toBe('OK');
    client.close();
    await stillAnswers();
  }, 30_000);
});
