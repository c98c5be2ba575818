/**
 * The ModelInfer fast path (src/api/grpc-fast-infer.ts) at the framing level, over real sockets:
 * what a raw HTTP/2 client can send that grpc-js's client never would, each answered with a status
 * and none taking the server down; and the calls it must leave to grpc-js.
 */
import { connect as h2connect, type ClientHttp2Session, type IncomingHttpHeaders } from 'node:http2';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GrpcInferenceServer } from '../../src/api/grpc-server.js';
import { grpcTimeoutDeadline, MODEL_INFER_PATH } from '../../src/api/grpc-fast-infer.js';
import { InflightLimit } from '../../src/api/inflight-limit.js';
import { type Client, pkg, rawReq, TestBackend, unary } from '../api-edge-fixture.js';

const MAX_BYTES = 64 * 1024;
const backend = new TestBackend();
let server: GrpcInferenceServer;
let port: number;
let client: Client;

beforeAll(async () => {
  server = new GrpcInferenceServer(backend, { host: '127.0.0.1', port: 0, defaultBudgetMs: 250, maxReceiveMessageBytes: MAX_BYTES });
  port = await server.start();
  client = new pkg.inference.GRPCInferenceService(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
});

afterAll(async () => {
  client?.close();
  await server?.stop(1000);
});

const encode = (id: string, batch = 1): Buffer => pkg.inference.GRPCInferenceService.service.ModelInfer.requestSerialize(rawReq(id, batch)) as Buffer;

function frame(msg: Buffer, compressed = 0): Buffer {
  const f = Buffer.alloc(5 + msg.length);
  f[0] = compressed;
  f.writeUInt32BE(msg.length, 1);
  msg.copy(f, 5);
  return f;
}

interface RawAnswer {
  readonly status: number | undefined;
  readonly message: string;
  readonly errorCode: string | undefined;
  readonly bodyBytes: number;
}

/** One call written as `chunks` on a fresh stream; the status from the trailers (or a trailers-only response). */
function rawCall(session: ClientHttp2Session, chunks: readonly Buffer[], extraHeaders: Record<string, string> = {}): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const st = session.request({ ':method': 'POST', ':path': MODEL_INFER_PATH, 'content-type': 'application/grpc', te: 'trailers', ...extraHeaders }, { endStream: false });
    let status: IncomingHttpHeaders = {};
    let bodyBytes = 0;
    st.on('response', (h) => {
      if (h['grpc-status'] !== undefined) status = h;
    });
    st.on('trailers', (t) => {
      status = t;
    });
    st.on('data', (d: Buffer) => {
      bodyBytes += d.length;
    });
    st.on('error', reject);
    st.on('close', () => {
      const code = status['grpc-status'];
      resolve({
        status: code === undefined ? undefined : Number(code),
        message: decodeURI(String(status['grpc-message'] ?? '')),
        errorCode: status['slackserve-error-code'] as string | undefined,
        bodyBytes,
      });
    });
    for (const c of chunks) st.write(c);
    st.end();
  });
}

async function stillAnswers(id: string): Promise<void> {
  const res: any = await unary(client, 'ModelInfer', rawReq(id));
  expect(res.id).toBe(id);
}

describe('ModelInfer fast path', () => {
  it('is attached, and a well-formed raw call gets a framed response and grpc-status 0', async () => {
    expect(server.fastInfer?.attached).toBe(true);
    const session = h2connect(`http://127.0.0.1:${port}`);
    try {
      const before = server.fastInfer?.calls ?? 0;
      const a = await rawCall(session, [frame(encode('raw-ok'))]);
      expect(a).toMatchObject({ status: 0 });
      expect(a.bodyBytes).toBeGreaterThan(5);
      expect(server.fastInfer?.calls).toBe(before + 1);
    } finally {
      session.close();
    }
  });

  it('a message split over many DATA frames is reassembled', async () => {
    const session = h2connect(`http://127.0.0.1:${port}`);
    try {
      const bytes = frame(encode('raw-split', 4));
      const parts: Buffer[] = [];
      for (let i = 0; i < bytes.length; i += 997) parts.push(bytes.subarray(i, i + 997));
      expect(parts.length).toBeGreaterThan(5);
      expect(await rawCall(session, parts)).toMatchObject({ status: 0 });
      expect(backend.seen.find((r) => r.id === 'raw-split')?.tensor.batch).toBe(4);
    } finally {
      session.close();
    }
  });

  it('framing errors get a status naming the problem; the server keeps answering', async () => {
    const session = h2connect(`http://127.0.0.1:${port}`);
    try {
      const good = encode('never-served');
      const tooBig = Buffer.alloc(5);
      tooBig.writeUInt32BE(MAX_BYTES + 1, 1);
      const cases: readonly [string, Buffer[], number, string, RegExp][] = [
        ['declared length over the limit', [tooBig, Buffer.alloc(1000)], grpc.status.RESOURCE_EXHAUSTED, 'LIMIT_EXCEEDED', /larger than max \(65537 vs 65536\)/],
        ['two messages on a unary call', [frame(good), frame(good)], grpc.status.INVALID_ARGUMENT, 'INPUT_INVALID', /second request message/],
        ['no message', [], grpc.status.INVALID_ARGUMENT, 'INPUT_INVALID', /without a complete request message/],
        ['half a message', [frame(good).subarray(0, 20)], grpc.status.INVALID_ARGUMENT, 'INPUT_INVALID', /without a complete request message/],
        ['compressed flag without grpc-encoding', [frame(good, 1)], grpc.status.INVALID_ARGUMENT, 'INPUT_INVALID', /compressed message/],
        ['undecodable protobuf', [frame(Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f]))], grpc.status.INVALID_ARGUMENT, 'INPUT_INVALID', /./],
      ];
      for (const [what, chunks, code, errorCode, message] of cases) {
        const a = await rawCall(session, chunks);
        expect({ what, status: a.status, errorCode: a.errorCode }).toEqual({ what, status: code, errorCode });
        expect(a.message).toMatch(message);
        expect(a.message.length).toBeLessThan(600);
      }
      expect(backend.seen.some((r) => r.id === 'never-served')).toBe(false);
      await stillAnswers('after-framing-errors');
    } finally {
      session.close();
    }
  });

  it('compressed calls and a non-gRPC content type are left to grpc-js', async () => {
    const before = server.fastInfer?.calls ?? 0;
    const gzipClient: Client = new pkg.inference.GRPCInferenceService(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), {
      'grpc.default_compression_algorithm': grpc.compressionAlgorithms.gzip,
    });
    try {
      const res: any = await unary(gzipClient, 'ModelInfer', rawReq('gzipped'));
      expect(res.id).toBe('gzipped');
    } finally {
      gzipClient.close();
    }
    const session = h2connect(`http://127.0.0.1:${port}`);
    try {
      const st = session.request({ ':method': 'POST', ':path': MODEL_INFER_PATH, 'content-type': 'text/plain' });
      const httpStatus = await new Promise<number>((res) => st.on('response', (h) => res(Number(h[':status']))));
      st.resume();
      st.end();
      expect(httpStatus).toBe(415); // grpc-js's answer to a content type that is not gRPC's
    } finally {
      session.close();
    }
    expect(server.fastInfer?.calls).toBe(before);
  });

  it('a client that resets its stream mid-message leaves nothing held', async () => {
    const session = h2connect(`http://127.0.0.1:${port}`);
    try {
      for (let i = 0; i < 50; i++) {
        const st = session.request({ ':method': 'POST', ':path': MODEL_INFER_PATH, 'content-type': 'application/grpc', te: 'trailers' }, { endStream: false });
        st.on('error', () => undefined);
        st.write(frame(encode(`reset-${i}`)).subarray(0, 30));
        st.close(0x8); // CANCEL
      }
      await new Promise((r) => setTimeout(r, 100));
      await stillAnswers('after-resets');
      expect(backend.seen.some((r) => r.id.startsWith('reset-'))).toBe(false);
    } finally {
      session.close();
    }
  });
});

describe('a message that arrives after a large part of its own budget turns the door on (intakeLagFraction)', () => {
  const encodeWith = (id: string, budgetMs: number): Buffer =>
    pkg.inference.GRPCInferenceService.service.ModelInfer.requestSerialize(rawReq(id, 1, { parameters: { 'slackserve.latency_budget_ms': { int64Param: budgetMs } } })) as Buffer;

  /** One call whose message is sent `delayMs` after its headers. */
  async function slowBody(session: ClientHttp2Session, bytes: Buffer, delayMs: number): Promise<void> {
    const st = session.request({ ':method': 'POST', ':path': MODEL_INFER_PATH, 'content-type': 'application/grpc', te: 'trailers' }, { endStream: false });
    st.resume();
    const closed = new Promise<void>((res) => st.on('close', () => res()));
    st.write(bytes.subarray(0, 10));
    await new Promise((r) => setTimeout(r, delayMs));
    st.end(bytes.subarray(10));
    await closed;
  }

  for (const fastInfer of [true, false]) {
    it(fastInfer ? 'on the fast path' : 'through grpc-js', async () => {
      const limit = new InflightLimit({ max: 20_000, sloFactor: 1.5, sloMs: 100, floor: 16 });
      const s = new GrpcInferenceServer(backend, { host: '127.0.0.1', port: 0, defaultBudgetMs: 250, inflightLimit: limit, intakeLagFraction: 0.25, fastInfer });
      const p = await s.start();
      const session = h2connect(`http://127.0.0.1:${p}`);
      try {
        // prompt: headers and message together
        expect(await rawCall(session, [frame(encodeWith(`prompt-${fastInfer}`, 200))])).toMatchObject({ status: 0 });
        expect(limit.shedding(Date.now())).toBe(false);
        // 150 ms late, but its budget is 20 s: a long-budget call is not a sign of overload
        await slowBody(session, frame(encodeWith(`late-long-${fastInfer}`, 20_000)), 150);
        expect(backend.seen.some((r) => r.id === `late-long-${fastInfer}`)).toBe(true);
        expect(limit.shedding(Date.now())).toBe(false);
        // 150 ms late with a 200 ms budget: three quarters of it gone before the message was in
        await slowBody(session, frame(encodeWith(`late-${fastInfer}`, 200)), 150);
        expect(limit.shedding(Date.now())).toBe(true);
      } finally {
        session.close();
        await s.stop(1000);
      }
    });
  }
});

describe('grpc-timeout', () => {
  it('turns every unit of the header into an absolute deadline', () => {
    expect(grpcTimeoutDeadline('2S', 1000)).toBe(3000);
    expect(grpcTimeoutDeadline('150m', 1000)).toBe(1150);
    expect(grpcTimeoutDeadline('1M', 0)).toBe(60_000);
    expect(grpcTimeoutDeadline('1H', 0)).toBe(3_600_000);
    expect(grpcTimeoutDeadline('2500u', 0)).toBeCloseTo(2.5, 9);
    expect(grpcTimeoutDeadline('3000000n', 0)).toBeCloseTo(3, 9);
  });

  it('no header or a malformed one: no deadline', () => {
    for (const h of [undefined, '', 'S', '12', '1s', '123456789S', ['1S']]) expect(grpcTimeoutDeadline(h, 5)).toBe(Infinity);
  });
});
