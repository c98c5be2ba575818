/**
 * Shared by the edge interop tests (api-grpc-interop, api-rest-interop): an in-test backend whose
 * behaviour is chosen by the request id, a client built independently of the server's loader (the
 * .proto loaded with different options: camelCase fields, Number enums, through
 * grpc.loadPackageDefinition), and the two edges started on free ports.
 */
import type { Cancellation } from '../src/api/cancel.js';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { SlackserveError } from '../src/errors.js';
import { GrpcInferenceServer } from '../src/api/grpc-server.js';
import { HttpInferenceServer, sendJson } from '../src/api/http-server.js';
import { modelMetadataFromManifest } from '../src/api/tensors.js';
import type { DecodedInfer, InferAnswer, InferContext, InferenceBackend } from '../src/api/types.js';
import type { Manifest } from '../src/supernet/manifest-types.js';
import { readManifestJson } from './helpers.js';

export const MODEL = 'fmnist-resnet';
export const SAMPLE = 784;
export const META = modelMetadataFromManifest(readManifestJson() as unknown as Manifest, { maxBatch: 8 });

/** Deterministic logits from the input: row b, class c = mean(sample b) * (c - 4.5) + c / 100. */
export function logitsOf(data: Float32Array, batch: number): Float32Array {
  const out = new Float32Array(batch * 10);
  for (let b = 0; b < batch; b++) {
    let sum = 0;
    for (let i = 0; i < SAMPLE; i++) sum += data[b * SAMPLE + i]!;
    for (let c = 0; c < 10; c++) out[b * 10 + c] = (sum / SAMPLE) * (c - 4.5) + c / 100;
  }
  return out;
}

export const served = (over: Partial<InferAnswer['servedBy']> = {}): InferAnswer['servedBy'] => ({
  subnet: 'r28_d222_w16-32-64',
  exit: 'final',
  confidence: 0.75,
  queueUs: 120,
  computeUs: 900,
  deadlineMet: true,
  downgraded: false,
  ...over,
});

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Behaviour chosen by the request id: ok (default), queue-full, wait, early, slow. */
export class TestBackend implements InferenceBackend {
  readonly seen: DecodedInfer[] = [];
  waiting: { cancel: Cancellation } | undefined;
  aborted = 0;
  ready_ = true;

  live(): boolean {
    return true;
  }
  async ready(): Promise<boolean> {
    return this.ready_;
  }
  async modelReady(name: string): Promise<boolean> {
    this.modelMetadata(name, '');
    return true;
  }
  serverMetadata() {
    return { name: 'slackserve', version: '0.1.0', extensions: ['slackserve_slo'] };
  }
  modelMetadata(name: string, _version: string) {
    if (name !== MODEL) throw new SlackserveError('MODEL_UNKNOWN', `unknown model '${name}'`);
    return META;
  }
  async infer(req: DecodedInfer, ctx: InferContext): Promise<InferAnswer> {
    this.seen.push(req);
    const answer = (over: Partial<InferAnswer['servedBy']> = {}): InferAnswer => ({
      logits: logitsOf(req.tensor.data, req.tensor.batch),
      servedBy: served(over),
    });
    if (req.id.startsWith('queue-full')) throw new SlackserveError('QUEUE_FULL', 'queue holds 1000 requests');
    if (req.id.startsWith('wait')) {
      this.waiting = { cancel: ctx.cancel };
      await new Promise<void>((resolve) => ctx.cancel.onCancel(resolve));
      this.aborted++;
      throw new SlackserveError('CANCELLED', 'cancelled while queued');
    }
    if (req.id.startsWith('early')) {
      ctx.onEarly?.(answer({ exit: 's1b0', confidence: 0.6 }));
      await sleep(20);
      return answer();
    }
    if (req.id.startsWith('slow')) await sleep(150);
    if (req.id.startsWith('throw-plain')) throw new Error('backend bug');
    return answer();
  }
}

export async function until(cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await sleep(5);
  }
}

export function image(batch: number, seed = 1): Float32Array {
  const a = new Float32Array(batch * SAMPLE);
  for (let i = 0; i < a.length; i++) a[i] = Math.fround(Math.sin(i * 0.37 + seed));
  return a;
}
export const le = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

// ---- the independent client: camelCase fields, longs as strings, enums as numbers
export const clientDef = protoLoader.loadSync(['grpc_service.proto', 'health.proto'], {
  includeDirs: ['proto'],
  keepCase: false,
  longs: String,
  enums: Number,
  defaults: true,
  oneofs: true,
});
export const pkg = grpc.loadPackageDefinition(clientDef) as any;

export type Client = grpc.Client & Record<string, any>;

export function unary<T = any>(client: Client, method: string, req: unknown, options: grpc.CallOptions = {}): Promise<T> {
  return new Promise((resolve, reject) => {
    client[method](req, new grpc.Metadata(), options, (err: grpc.ServiceError | null, res: T) => (err ? reject(err) : resolve(res)));
  });
}

export async function rejection(p: Promise<unknown>): Promise<grpc.ServiceError> {
  try {
    await p;
  } catch (err) {
    return err as grpc.ServiceError;
  }
  throw new Error('expected the call to fail');
}

export function rawReq(id: string, batch = 1, extra: Record<string, unknown> = {}) {
  return {
    modelName: MODEL,
    id,
    inputs: [{ name: 'image', datatype: 'FP32', shape: [batch, 1, 28, 28] }],
    rawInputContents: [le(image(batch))],
    ...extra,
  };
}

/** A response's JSON body, untyped (the tests look into it). */
export const body = async (r: Response): Promise<any> => r.json();

export const param = (resp: any, key: string) => {
  const p = resp.parameters[key];
  return p[p.parameterChoice];
};

export interface Edges {
  readonly grpcServer: GrpcInferenceServer;
  readonly httpServer: HttpInferenceServer;
  /** The independent client of GRPCInferenceService, and of grpc.health.v1.Health. */
  readonly client: Client;
  readonly health: Client;
  /** http://127.0.0.1:PORT of the REST edge (with /metrics and /dashboard/* routed as other modules do). */
  readonly base: string;
  stop(): Promise<void>;
}

/** Both edges in front of `backend`, on free ports. */
export async function startEdges(backend: InferenceBackend, o: { readonly fastInfer?: boolean } = {}): Promise<Edges> {
  const grpcServer = new GrpcInferenceServer(backend, { host: '127.0.0.1', port: 0, defaultBudgetMs: 250, healthWatchIntervalMs: 20, ...(o.fastInfer !== undefined ? { fastInfer: o.fastInfer } : {}) });
  const port = await grpcServer.start();
  const client: Client = new pkg.inference.GRPCInferenceService(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  const health: Client = new pkg.grpc.health.v1.Health(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  const httpServer = new HttpInferenceServer(backend, { host: '127.0.0.1', port: 0, defaultBudgetMs: 250, bodyLimitBytes: 64 * 1024 });
  httpServer.route('GET', '/metrics', (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end('slackserve_up 1\n');
  });
  httpServer.route('GET', '/dashboard/*', (_req, res, ctx) => sendJson(res, 200, { asset: ctx.params['*'] }));
  const base = `http://127.0.0.1:${await httpServer.start()}`;
  return {
    grpcServer,
    httpServer,
    client,
    health,
    base,
    async stop() {
      client.close();
      health.close();
      await grpcServer.stop(1000);
      await httpServer.stop(1000);
    },
  };
}
