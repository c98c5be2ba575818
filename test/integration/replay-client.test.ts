/**
 * The replay client over real gRPC against an in-process GrpcInferenceServer with a trivial
 * backend (no model): every request gets exactly one outcome with the answer's fields read back,
 * the client's own CPU and lateness are reported, and a client too slow for its schedule is
 * flagged client-limited; the h2 transport answers what grpc-js answers. Needs `npm run build`
 * (the sender threads run from dist/).
 */
import * as http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GrpcInferenceServer } from '../../src/api/grpc-server.js';
import { modelMetadataFromManifest } from '../../src/api/tensors.js';
import type { InferenceBackend } from '../../src/api/types.js';
import { H2UnaryClient, type UnaryError } from '../../src/client/h2-unary.js';
import { MODEL_INFER_PATH, OipClient } from '../../src/client/oip-client.js';
import { readInferResponse } from '../../src/client/wire.js';
import { replay } from '../../src/replay/replayer.js';
import { summarize } from '../../src/replay/report.js';
import { Catalogue } from '../../src/supernet/catalogue.js';
import { poisson } from '../../src/trace/generators.js';
import { SUPERNET_DIR } from '../helpers.js';

const SAMPLE = 784;
// image j is filled with j % 10, its label; the backend answers class = the first value, so a
// correct replay reads back predicted === label for every request
const N = 20;
const images = Float32Array.from({ length: N * SAMPLE }, (_, i) => Math.floor(i / SAMPLE) % 10);
const labels = Uint8Array.from({ length: N }, (_, j) => j % 10);

let server: GrpcInferenceServer;
let target: string;

beforeAll(async () => {
  const cat = Catalogue.load(SUPERNET_DIR);
  const meta = modelMetadataFromManifest(cat.manifest, { maxBatch: 64 });
  const backend: InferenceBackend = {
    live: () => true,
    ready: async () => true,
    modelReady: async () => true,
    serverMetadata: () => ({ name: 'echo', version: '0', extensions: [] }),
    modelMetadata: () => meta,
    infer: async (req) => {
      const cls = req.tensor.data[0] as number;
      if (cls < 0) await new Promise((res) => setTimeout(res, 1500)); // a slow answer, for deadlines
      const logits = new Float32Array(10 * req.tensor.batch);
      logits[cls] = 1;
      // rows after the first answer their own class, except class 7, answered 0 (a wrong answer the
      // per-image accuracy must count; the first image is always right)
      for (let r = 1; r < req.tensor.batch; r++) {
        const c = req.tensor.data[r * SAMPLE] as number;
        logits[r * 10 + (c === 7 ? 0 : c)] = 1;
      }
      return { logits, servedBy: { subnet: 'echo', exit: cls === 3 ? 's1b0' : 'final', confidence: 1, queueUs: 100 + cls, computeUs: 2000, deadlineMet: true, downgraded: cls % 2 === 1 } };
    },
  };
  server = new GrpcInferenceServer(backend, { host: '127.0.0.1', port: 0, defaultBudgetMs: 100 });
  target = `127.0.0.1:${await server.start()}`;
});
afterAll(() => server.stop(100));

const common = () => ({ target, model: 'fmnist-resnet', inputName: 'image', images, labels, sampleShape: [1, 28, 28], serverInProcess: true });

describe('replay client against a real gRPC server', () => {
  it.each(['grpc-js', 'h2'] as const)('records one checked outcome per request and reports its CPU per request and lateness (%s)', async (transport) => {
    const trace = poisson({ rate: 400, durationS: 1.5, sloMs: 1000, seed: 5 });
    const r = await replay({ ...common(), trace, threads: 2, transport });
    expect(r.records).toHaveLength(r.total);
    expect(r.total).toBeGreaterThan(450);
    expect(r.records.map((x) => x.i)).toEqual(Array.from({ length: r.total }, (_, i) => i));
    for (const x of r.records) {
      expect(x.outcome, x.message).toBe('ok');
      expect(x.predicted).toBe(x.label);
      expect(x.subnet).toBe('echo');
      expect(x.exit).toBe(x.label === 3 ? 's1b0' : 'final');
      expect(x.queueUs).toBe(100 + x.label);
      expect(x.computeUs).toBe(2000);
      expect(x.downgraded).toBe(x.label % 2 === 1);
      expect(x.serverDeadlineMet).toBe(true);
      expect(x.behindMs).toBeGreaterThanOrEqual(0);
    }
    expect(r.client.threads).toBe(2);
    expect(r.client.transport).toBe(transport);
    expect(r.client.sent).toBe(r.total);
    expect(r.client.sharesMachine).toBe(false); // the server is in this process
    expect(r.client.cpuIncludesServer).toBe(true);
    const s = summarize(r.records, r.scheduleS, r.maxBehindMs, r.client);
    expect(s.served_accuracy).toBe(1);
    expect(s.client_cpu_us_per_request).toBeGreaterThan(0);
    expect(s.client_cpu_cores).toBeGreaterThan(0);
    expect(s.client_cpu_includes_server).toBe(true);
    expect(s.client_behind_ms.p50).not.toBeNull();
    expect(s.client_behind_ms.p99).not.toBeNull();
    expect(s.client_behind_ms.max).toBeGreaterThanOrEqual(s.client_behind_ms.p99 as number);
    expect(s.client_threads).toBe(2);
    expect(typeof s.client_limited).toBe('boolean');
  });

  it('checks every image of a multi-image request against its own label', async () => {
    const per = 4;
    const trace = poisson({ rate: 200, durationS: 0.5, sloMs: 1000, seed: 9 });
    const r = await replay({ ...common(), trace, threads: 1, imagesPerRequest: per });
    expect(r.total).toBeGreaterThan(50);
    let images = 0;
    let wrong = 0;
    for (const x of r.records) {
      expect(x.outcome, x.message).toBe('ok');
      expect(x.images).toBe(per);
      // request i carries images first..first+3 (first = 4i mod (N - per + 1)), image j labelled j % 10
      const first = (x.i * per) % (N - per + 1);
      const sevens = [1, 2, 3].filter((j) => (first + j) % 10 === 7).length;
      expect(x.correct).toBe(per - sevens);
      images += per;
      wrong += sevens;
    }
    expect(wrong).toBeGreaterThan(0);
    const s = summarize(r.records, r.scheduleS, r.maxBehindMs, r.client);
    expect(s.served_accuracy).toBeCloseTo((images - wrong) / images, 4);
  });

  it('flags a client that cannot keep its schedule as client-limited, and still accounts for every request', async () => {
    // 1,000 req/s for 0.3 s on one thread that burns 4 ms per send: it can send 250 req/s at most
    const trace = poisson({ rate: 1000, durationS: 0.3, sloMs: 1000, seed: 6 });
    const r = await replay({ ...common(), trace, threads: 1, sendCostMs: 4 });
    expect(r.records).toHaveLength(r.total);
    expect(r.records.every((x) => x.outcome === 'ok')).toBe(true);
    const s = summarize(r.records, r.scheduleS, r.maxBehindMs, r.client);
    expect(s.client_behind_ms.p99).toBeGreaterThan(100);
    expect(s.client_limited).toBe(true);
    expect(s.client_limited_reason).toMatch(/behind schedule: p99 send lateness \d+\.\d ms > 5 ms; its busiest sender thread was \d+% busy/);
    expect(r.client.threadBusyMax).toBeGreaterThan(0.9);
  });
});

describe('h2 transport', () => {
  const request = (first: number, shape: number[] = [1, 1, 28, 28], id = '1'): Buffer =>
    OipClient.encodeRequest({ model: 'fmnist-resnet', images: new Float32Array(784).fill(first), shape, id, params: { 'slackserve.latency_budget_ms': 5000 } });
  const framed = (b: Buffer): Buffer => Buffer.concat([Buffer.from([0, b.length >>> 24, (b.length >>> 16) & 255, (b.length >>> 8) & 255, b.length & 255]), b]);
  const viaH2 = (t: string, bytes: Buffer, deadlineMs: number) =>
    new Promise<{ err: UnaryError | null; res?: Buffer }>((resolve) => {
      const c = new H2UnaryClient(t);
      c.call(MODEL_INFER_PATH, framed(bytes), deadlineMs, (err, res) => {
        c.close();
        resolve({ err, res });
      });
    });
  const viaGrpcJs = (t: string, bytes: Buffer, deadlineMs: number) =>
    new Promise<{ err: UnaryError | null; res?: Buffer }>((resolve) => {
      const c = new OipClient(t);
      c.inferEncoded(bytes, deadlineMs, (err, res) => {
        c.close();
        resolve({ err: err ? { code: err.code, details: err.details } : null, ...(res ? { res } : {}) });
      });
    });

  it('answers what grpc-js answers: the response bytes, a server error status and message, a deadline, an unreachable server', async () => {
    const ok = [await viaH2(target, request(7, [1, 1, 28, 28], 'abc'), Date.now() + 5000), await viaGrpcJs(target, request(7, [1, 1, 28, 28], 'abc'), Date.now() + 5000)];
    for (const x of ok) {
      expect(x.err).toBeNull();
      expect(readInferResponse(x.res as Buffer)).toMatchObject({ id: 'abc', classes: [7] });
    }
    expect(Buffer.compare(ok[0]!.res as Buffer, ok[1]!.res as Buffer)).toBe(0);
    const bad = [await viaH2(target, request(1, [1, 3, 28, 28]), Date.now() + 5000), await viaGrpcJs(target, request(1, [1, 3, 28, 28]), Date.now() + 5000)];
    expect(bad[0]!.err?.code).toBe(3); // INVALID_ARGUMENT
    expect(bad[0]!.err).toEqual(bad[1]!.err);
    const late = await viaH2(target, request(-1), Date.now() + 200);
    expect(late.err?.code).toBe(4); // DEADLINE_EXCEEDED
    const closed = await viaH2('127.0.0.1:1', request(1), Date.now() + 2000);
    expect(closed.err?.code).toBe(14); // UNAVAILABLE
  });

  it("waits for a stream when the server's concurrent-stream limit is reached, as grpc-js does", async () => {
    const limited = http2.createServer({ settings: { maxConcurrentStreams: 2 } });
    let open = 0;
    let most = 0;
    limited.on('stream', (st) => {
      most = Math.max(most, ++open);
      st.resume();
      st.on('end', () =>
        setTimeout(() => {
          open--;
          st.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
          st.on('wantTrailers', () => st.sendTrailers({ 'grpc-status': '0' }));
          st.end(framed(Buffer.from([0x1a, 0x01, 0x78]))); // id "x"
        }, 30),
      );
    });
    await new Promise<void>((res) => limited.listen(0, '127.0.0.1', res));
    try {
      const c = new H2UnaryClient(`127.0.0.1:${(limited.address() as AddressInfo).port}`);
      // calls made before the server's settings are known too: refused streams are sent again
      const queued: number[] = [];
      const answers = await Promise.all(
        Array.from(
          { length: 10 },
          () =>
            new Promise<string>((res) =>
              c.call(MODEL_INFER_PATH, framed(request(1)), Date.now() + 5000, (err, b, info) => {
                queued.push(info?.queuedMs ?? -1);
                res(err ? `${err.code} ${err.details}` : readInferResponse(b as Buffer).id);
              }),
            ),
        ),
      );
      c.close();
      expect(answers).toEqual(Array(10).fill('x'));
      expect(most).toBe(2);
      // each call says how long it waited for a stream: the first two none, the last ones at
      // least three rounds of 30 ms behind two streams
      queued.sort((x, y) => x - y);
      expect(queued[0]).toBeGreaterThanOrEqual(0);
      expect(queued[1]).toBeLessThan(15);
      expect(queued[9]).toBeGreaterThanOrEqual(60);
    } finally {
      await new Promise((res) => limited.close(res));
    }
  });

  it('enforces the deadline itself when a server never answers', async () => {
    const mute = http2.createServer();
    mute.on('stream', () => undefined);
    await new Promise<void>((res) => mute.listen(0, '127.0.0.1', res));
    try {
      const t0 = Date.now();
      const r = await viaH2(`127.0.0.1:${(mute.address() as AddressInfo).port}`, request(1), Date.now() + 200);
      expect(r.err).toEqual({ code: 4, details: 'deadline exceeded (client)' });
      expect(Date.now() - t0).toBeLessThan(1500);
    } finally {
      await new Promise((res) => mute.close(res));
    }
  });
});
