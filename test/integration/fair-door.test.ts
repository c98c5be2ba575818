/**
 * The door's slots shared per connection (src/api/fair-share.ts, `inflightFairShare`) on the real
 * gRPC edge, over real sockets: while the adaptive limit applies, a connection that holds the whole
 * limit does not lock out another connection, which gets in past the limit (its equal share, up to
 * the door's bound of 1.25x the limit); with the sharing off, the same calls are refused. Every call let in is answered OK once released.
 */
import { connect as h2connect, type ClientHttp2Session, type IncomingHttpHeaders } from 'node:http2';
import { describe, expect, it } from 'vitest';
import { MODEL_INFER_PATH } from '../../src/api/grpc-fast-infer.js';
import { GrpcInferenceServer } from '../../src/api/grpc-server.js';
import { InflightLimit } from '../../src/api/inflight-limit.js';
import type { DecodedInfer, InferAnswer, InferContext } from '../../src/api/types.js';
import { pkg, rawReq, TestBackend, until } from '../api-edge-fixture.js';

/** Calls whose id starts with `hold` wait until `release()`. */
class HoldBackend extends TestBackend {
  private open!: () => void;
  private readonly gate = new Promise<void>((r) => (this.open = r));
  held = 0;
  release(): void {
    this.open();
  }
  override async infer(req: DecodedInfer, ctx: InferContext): Promise<InferAnswer> {
    if (req.id.startsWith('hold')) {
      this.held++;
      await this.gate;
    }
    return super.infer(req, ctx);
  }
}

const framed = (id: string): Buffer => {
  const msg = pkg.inference.GRPCInferenceService.service.ModelInfer.requestSerialize(rawReq(id)) as Buffer;
  const f = Buffer.alloc(5 + msg.length);
  f.writeUInt32BE(msg.length, 1);
  msg.copy(f, 5);
  return f;
};

/** One unary call on `session`; resolves with its grpc-status. */
function call(session: ClientHttp2Session, id: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const st = session.request({ ':method': 'POST', ':path': MODEL_INFER_PATH, 'content-type': 'application/grpc', te: 'trailers' });
    let status = -1;
    const take = (h: IncomingHttpHeaders): void => {
      if (h['grpc-status'] !== undefined) status = Number(h['grpc-status']);
    };
    st.on('response', take);
    st.on('trailers', take);
    st.on('error', reject);
    st.resume();
    st.on('close', () => resolve(status));
    st.end(framed(id));
  });
}

async function run(fairShare: boolean): Promise<{ flood: number[]; quiet: number[]; fairAdmitted: number }> {
  const backend = new HoldBackend();
  // no answers yet, so while shedding the limit is its floor: 16 calls
  const limit = new InflightLimit({ max: 20_000, sloFactor: 1.5, sloMs: 100, floor: 16, holdMs: 60_000 });
  const server = new GrpcInferenceServer(backend, { host: '127.0.0.1', port: 0, defaultBudgetMs: 5_000, inflightLimit: limit, fairShare });
  const port = await server.start();
  const a = h2connect(`http://127.0.0.1:${port}`);
  const b = h2connect(`http://127.0.0.1:${port}`);
  try {
    limit.shed(Date.now());
    expect(limit.limit(Date.now())).toBe(16);
    const floodCalls = Array.from({ length: 40 }, (_, i) => call(a, `hold-flood-${i}`));
    await until(() => backend.held === 16, 10_000);
    // the flood's refusals come back while its 8 are held
    const quietCalls: Promise<number>[] = [];
    await new Promise((r) => setTimeout(r, 200));
    for (let i = 0; i < 6; i++) quietCalls.push(call(b, `hold-quiet-${i}`));
    await until(() => backend.held === (fairShare ? 20 : 16), 10_000);
    await new Promise((r) => setTimeout(r, 200));
    backend.release();
    const [flood, quiet] = await Promise.all([Promise.all(floodCalls), Promise.all(quietCalls)]);
    return { flood, quiet, fairAdmitted: server.streamShedding.fairShareAdmitted };
  } finally {
    a.close();
    b.close();
    await server.stop(1000);
  }
}

const count = (codes: number[], code: number): number => codes.filter((c) => c === code).length;

describe('the door shares its slots per connection (inflightFairShare)', () => {
  it('on: a connection holding the whole limit (16) does not lock out the other, let in past it up to the bound (20); the rest refused RESOURCE_EXHAUSTED', async () => {
    const { flood, quiet, fairAdmitted } = await run(true);
    expect(count(flood, 0)).toBe(16);
    expect(count(flood, 8)).toBe(24);
    expect(quiet).toEqual([0, 0, 0, 0, 8, 8]);
    expect(fairAdmitted).toBe(4);
  }, 30_000);

  it('off: first come, first served, the second connection is refused every call', async () => {
    const { flood, quiet, fairAdmitted } = await run(false);
    expect(count(flood, 0)).toBe(16);
    expect(quiet).toEqual([8, 8, 8, 8, 8, 8]);
    expect(fairAdmitted).toBe(0);
  }, 30_000);
});
