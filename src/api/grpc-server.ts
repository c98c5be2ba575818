/**
 * The gRPC edge: `inference.GRPCInferenceService` (Open Inference Protocol + Triton's
 * ModelStreamInfer) and `grpc.health.v1.Health`, over an `InferenceBackend`. Each call decodes and
 * validates (errors -> status through status.ts), calls the backend with an AbortSignal that
 * fires when the client cancels, and encodes the answer. A bad request fails only its own call.
 */
import * as grpc from '@grpc/grpc-js';
import { asSlackserveError, SlackserveError } from '../errors.js';
import {
  type HealthStatus,
  loadProtos,
  type WireModelInferRequest,
  type WireModelInferResponse,
  type WireModelMetadataResponse,
  type WireModelStreamInferResponse,
} from './proto.js';
import type { TokenSet } from './auth.js';
import { CallCancel } from './cancel.js';
import { ARRIVAL, CallGuard, type Stamped } from './grpc-guard.js';
import type { InflightLimit } from './inflight-limit.js';
import { attachFastInfer, type FastInferStats } from './grpc-fast-infer.js';
import { ShedStreams } from './shed-streams.js';
import { HEALTH_SERVICES, HealthWatches } from './grpc-health.js';
import { decodeModelInferRequest, grpcInferenceMethodOverrides, isWireDecodeFailure, type WireInferRequestOrFailure } from './infer-wire.js';
import { encodeAnswerFramed } from './infer-answer-encode.js';
import { encodeArgsOf, type Prepared, prepareInfer, type PrepareContext } from './grpc-prepare.js';
import { toGrpcServiceError } from './status.js';
import { encodeGrpcResponse } from './tensors.js';
import { deadlineMsOf, serveStream } from './grpc-stream.js';
import { grpcServerCredentials, type TlsMaterial } from './tls.js';
import { modelControlUnsupported, tritonApi } from './triton-api.js';
import type { InferAnswer, InferenceBackend, ModelMetadata, Protocol } from './types.js';

export interface GrpcServerOptions {
  /** Bind address (default 127.0.0.1). */
  readonly host?: string;
  /** Port (default 8001, Triton's); 0 picks a free one (tests). */
  readonly port?: number;
  /** SLO budget for requests that give none (ms). */
  readonly defaultBudgetMs: number;
  /** `slackserve.sheddable` when a request does not say (default true). */
  readonly defaultSheddable?: boolean;
  /** Largest request message accepted (bytes, default 4 MiB); larger: RESOURCE_EXHAUSTED. */
  readonly maxReceiveMessageBytes?: number;
  /** HTTP/2 streams per connection (default 1000). */
  readonly maxConcurrentStreams?: number;
  /** Streams for a connection that floods the refusing door (shed-streams.ts; 0 or absent: never reduced). */
  readonly sheddingStreams?: number;
  /** Server keepalive ping interval and timeout (ms; defaults 60 s and 20 s). */
  readonly keepaliveTimeMs?: number;
  readonly keepaliveTimeoutMs?: number;
  /** A connection without calls for this long gets GOAWAY (ms, default 5 min). */
  readonly maxConnectionIdleMs?: number;
  /** Calls held at once across the server (default 20,000); past it RESOURCE_EXHAUSTED. */
  readonly maxInflight?: number;
  /** The adaptive in-flight limit for inference calls, below maxInflight (shared with the HTTP edge). */
  readonly inflightLimit?: InflightLimit | undefined;
  /** A unary call's message must arrive within this long of its headers (ms, default 10 s). */
  readonly readTimeoutMs?: number;
  /**
   * A unary inference call whose message completes after more than this fraction of its own
   * latency budget (counted from its headers) tells `inflightLimit` the edge is behind on reading
   * (`InflightLimit.behind`); absent or 0: never.
   */
  readonly intakeLagFraction?: number | undefined;
  /** Unanswered requests one stream may hold (default 1000). */
  readonly maxStreamInflight?: number;
  /** How often Health/Watch re-checks readiness (ms, default 1000). */
  readonly healthWatchIntervalMs?: number;
  /** Clock for arrival times (epoch ms; default Date.now). */
  readonly now?: () => number;
  /** Bearer tokens every call but health must carry (none or empty: no authentication). */
  readonly auth?: TokenSet | undefined;
  /** Serve TLS (mutual when it holds a client CA); absent: plaintext. */
  readonly tls?: TlsMaterial | undefined;
  /** Told about every failed call or stream request (for logs and metrics). */
  readonly onCallError?: (err: SlackserveError, rpc: string) => void;
  /** True while the server drains: the guard refuses new calls (but health) UNAVAILABLE. */
  readonly draining?: (() => boolean) | undefined;
  /** Serve unary ModelInfer straight off HTTP/2 (grpc-fast-infer.ts); default true. */
  readonly fastInfer?: boolean;
}

export const DEFAULT_GRPC_PORT = 8001;

export { HEALTH_SERVICES } from './grpc-health.js';

/** A plain gRPC status for protocol-level outcomes that are no SlackserveError (Health NOT_FOUND). */
class GrpcStatusError extends Error {
  constructor(
    readonly code: grpc.status,
    message: string,
  ) {
    super(message);
  }
}

function cancelledError(): SlackserveError {
  return new SlackserveError('CANCELLED', 'the client cancelled the call');
}

function modelMetadataToWire(m: ModelMetadata): WireModelMetadataResponse {
  const tensor = (t: ModelMetadata['inputs'][number]) => ({ name: t.name, datatype: t.datatype, shape: [...t.shape] });
  return { name: m.name, versions: [...m.versions], platform: m.platform, inputs: m.inputs.map(tensor), outputs: m.outputs.map(tensor) };
}

export class GrpcInferenceServer {
  private readonly server: grpc.Server;
  private readonly guard: CallGuard;
  private readonly shedStreams: ShedStreams;
  private readonly health: HealthWatches;
  private readonly now: () => number;
  private readonly prepareContext: PrepareContext;
  private boundPort: number | undefined;
  private fast: { readonly attached: boolean; readonly stats: () => FastInferStats } | undefined;

  constructor(
    private readonly backend: InferenceBackend,
    private readonly opts: GrpcServerOptions,
  ) {
    this.now = opts.now ?? Date.now;
    this.prepareContext = { backend, now: this.now, defaultBudgetMs: opts.defaultBudgetMs, defaultSheddable: opts.defaultSheddable };
    this.health = new HealthWatches(() => this.healthStatus(), opts.healthWatchIntervalMs ?? 1000);
    const protos = loadProtos();
    this.shedStreams = new ShedStreams({ normal: opts.maxConcurrentStreams ?? 1000, shedding: opts.sheddingStreams ?? 0, now: this.now });
    this.guard = new CallGuard({
      maxInflight: opts.maxInflight ?? 20_000,
      limit: opts.inflightLimit,
      readTimeoutMs: opts.readTimeoutMs ?? 10_000,
      now: this.now,
      auth: opts.auth,
      draining: opts.draining,
      // inference calls refused before their message is read are failures too (model unknown: '')
      onRefused: (path, err, arrival) => {
        if (path.endsWith('/ModelInfer') || path.endsWith('/ModelStreamInfer')) backend.recordEdgeFailure?.('', '', err, arrival);
      },
    });
    this.server = new grpc.Server({
      'grpc.max_receive_message_length': opts.maxReceiveMessageBytes ?? 4 * 1024 * 1024,
      'grpc.max_concurrent_streams': opts.maxConcurrentStreams ?? 1000,
      'grpc.keepalive_time_ms': opts.keepaliveTimeMs ?? 60_000,
      'grpc.keepalive_timeout_ms': opts.keepaliveTimeoutMs ?? 20_000,
      'grpc.max_connection_idle_ms': opts.maxConnectionIdleMs ?? 300_000,
      interceptors: [this.guard.interceptor],
    });
    // the bounded zero-copy codec replaces protobufjs for ModelInfer/ModelStreamInfer: a request
    // that fails to decode arrives as a WireDecodeFailure, answered by the handler (never INTERNAL)
    this.server.addService(grpcInferenceMethodOverrides(protos.inference), {
      ServerLive: this.unary('ServerLive', async () => ({ live: this.backend.live() })),
      ServerReady: this.unary('ServerReady', async () => ({ ready: await this.readySafe() })),
      ModelReady: this.unary('ModelReady', async (req: { name?: string; version?: string }) => ({
        ready: await this.backend.modelReady(req.name ?? '', req.version ?? ''),
      })),
      ServerMetadata: this.unary('ServerMetadata', async () => {
        const m = this.backend.serverMetadata();
        return { name: m.name, version: m.version, extensions: [...m.extensions] };
      }),
      ModelMetadata: this.unary('ModelMetadata', async (req: { name?: string; version?: string }) =>
        modelMetadataToWire(this.backend.modelMetadata(req.name ?? '', req.version ?? '')),
      ),
      ModelConfig: this.unary('ModelConfig', async (req: { name?: string; version?: string }) => ({
        config: tritonApi(this.backend, 'modelConfig', 'ModelConfig')(req.name ?? '', req.version ?? ''),
      })),
      ModelStatistics: this.unary('ModelStatistics', async (req: { name?: string; version?: string }) => ({
        model_stats: await tritonApi(this.backend, 'modelStatistics', 'ModelStatistics')(req.name ?? '', req.version ?? ''),
      })),
      RepositoryIndex: this.unary('RepositoryIndex', async (req: { repository_name?: string; ready?: boolean }) => ({
        models: await tritonApi(this.backend, 'repositoryIndex', 'RepositoryIndex')(req.ready === true),
      })),
      RepositoryModelLoad: this.unary('RepositoryModelLoad', async (req: { model_name?: string }) => {
        throw modelControlUnsupported('load', req.model_name ?? '');
      }),
      RepositoryModelUnload: this.unary('RepositoryModelUnload', async (req: { model_name?: string }) => {
        throw modelControlUnsupported('unload', req.model_name ?? '');
      }),
      ModelInfer: this.unary('ModelInfer', (req: WireInferRequestOrFailure, call) => this.modelInfer(req, call)),
      ModelStreamInfer: (call: grpc.ServerDuplexStream<WireInferRequestOrFailure, WireModelStreamInferResponse>) =>
        serveStream(call, {
          backend: this.backend,
          maxInflight: this.opts.maxStreamInflight ?? 1000,
          prepare: (req, deadline) => this.prepare(req, 'grpc-stream', deadline),
          encode: (p, answer) => this.encode(p, answer),
          reportError: (err, rpc) => this.reportError(err, rpc),
          edgeFailure: (req, err) => this.edgeFailure(req, err),
        }),
    });
    this.server.addService(protos.health, {
      Check: this.unary('Health/Check', async (req: { service?: string }) => {
        const service = req.service ?? '';
        if (!HEALTH_SERVICES.includes(service))
          throw new GrpcStatusError(grpc.status.NOT_FOUND, `unknown service '${service}'`);
        return { status: await this.healthStatus() };
      }),
      Watch: (call: grpc.ServerWritableStream<{ service?: string }, { status: HealthStatus }>) => this.health.watch(call),
    });
  }

  /** Binds and starts serving; resolves with the bound port. */
  start(): Promise<number> {
    const host = this.opts.host ?? '127.0.0.1';
    const port = this.opts.port ?? DEFAULT_GRPC_PORT;
    const address = host.includes(':') && !host.startsWith('[') ? `[${host}]:${port}` : `${host}:${port}`;
    return new Promise((resolve, reject) => {
      this.server.bindAsync(address, grpcServerCredentials(this.opts.tls), (err, bound) => {
        if (err) {
          reject(new SlackserveError('CONFIG_INVALID', `cannot bind the gRPC server to ${address}: ${err.message}`, { address }, { cause: err }));
          return;
        }
        this.boundPort = bound;
        if (this.opts.fastInfer !== false) this.attachFast();
        resolve(bound);
      });
    });
  }

  get port(): number | undefined {
    return this.boundPort;
  }

  /** Whether unary ModelInfer runs on the fast path, and how many calls it served (undefined: not asked for). */
  get fastInfer(): { readonly attached: boolean; readonly calls: number } | undefined {
    const f = this.fast;
    return f === undefined ? undefined : { attached: f.attached, calls: f.stats().calls };
  }

  /** Connections held to `sheddingStreams` for flooding the door: now, and times so far. */
  get streamShedding(): { readonly reduced: number; readonly reductions: number } {
    return { reduced: this.shedStreams.reduced, reductions: this.shedStreams.reductions };
  }

  private attachFast(): void {
    this.fast = attachFastInfer(this.server, {
      guard: this.guard,
      maxMessageBytes: this.opts.maxReceiveMessageBytes ?? 4 * 1024 * 1024,
      now: this.now,
      serve: async (message, arrival, deadline, cancel) => {
        const req = decodeModelInferRequest(message);
        if (!isWireDecodeFailure(req)) (req as Stamped)[ARRIVAL] = arrival;
        const [prepared, answer] = await this.inferAnswer(req, deadline, cancel);
        return encodeAnswerFramed(encodeArgsOf(prepared, answer));
      },
      reportError: (err, rpc) => this.reportError(err, rpc),
      refusedOn: (session) => this.shedStreams.refusedOn(session),
      edgeFailure: (err, arrival) => this.edgeFailure({ [ARRIVAL]: arrival } as WireModelInferRequest, err),
    });
  }

  /** Stops accepting calls and lets running ones finish; after `timeoutMs`, cancels the rest. */
  stop(timeoutMs = 5000): Promise<void> {
    this.guard.close();
    this.shedStreams.close();
    this.health.endAll();
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.server.forceShutdown();
        resolve();
      }, timeoutMs);
      this.server.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  private reportError(err: unknown, rpc: string): void {
    if (!this.opts.onCallError) return;
    try {
      this.opts.onCallError(asSlackserveError(err), rpc);
    } catch {
      // a failing logger must not fail the call
    }
  }

  private unary<Req, Res>(rpc: string, fn: (req: Req, call: grpc.ServerUnaryCall<Req, Res>) => Promise<Res>): grpc.handleUnaryCall<Req, Res> {
    return (call, callback) => {
      let result: Promise<Res>;
      try {
        result = fn(call.request, call);
      } catch (err) {
        result = Promise.reject(err);
      }
      result
        .then(
          (res) => callback(null, res),
          (err: unknown) => {
            if (err instanceof GrpcStatusError) {
              callback({ code: err.code, details: err.message });
              return;
            }
            this.reportError(err, rpc);
            callback(toGrpcServiceError(err));
          },
        )
        // a throwing callback (the call already gone) must not become an unhandled rejection
        .catch((err: unknown) => this.reportError(err, rpc));
    };
  }

  private async readySafe(): Promise<boolean> {
    try {
      return (await this.backend.ready()) === true;
    } catch {
      return false;
    }
  }

  private async healthStatus(): Promise<HealthStatus> {
    return (await this.readySafe()) ? 'SERVING' : 'NOT_SERVING';
  }

  /** Model lookup, tensor and SLO validation: everything before the backend (grpc-prepare.ts). */
  private prepare(req: WireModelInferRequest, protocol: Protocol, grpcDeadlineMs: number): Prepared {
    return prepareInfer(this.prepareContext, req, protocol, grpcDeadlineMs);
  }

  private encode(p: Prepared, answer: InferAnswer): WireModelInferResponse {
    return encodeGrpcResponse(encodeArgsOf(p, answer));
  }

  /** Counts a request the edge failed before the backend saw it (every failure is counted). */
  private edgeFailure(req: WireModelInferRequest, err: unknown): void {
    try {
      this.backend.recordEdgeFailure?.(req.model_name ?? '', req.model_version ?? '', err, (req as Stamped)[ARRIVAL] ?? this.now());
    } catch {
      // counting must not fail the call
    }
  }

  private async modelInfer(req: WireInferRequestOrFailure, call: grpc.ServerUnaryCall<WireInferRequestOrFailure, unknown>): Promise<WireModelInferResponse> {
    if (isWireDecodeFailure(req)) {
      const err = new SlackserveError(req.code, req.message);
      this.edgeFailure({}, err);
      throw err;
    }
    if (call.cancelled) {
      this.edgeFailure(req, cancelledError());
      throw cancelledError();
    }
    const cancel = new CallCancel();
    call.once('cancelled', cancel.cancel);
    try {
      return await this.inferCore(req, deadlineMsOf(call), cancel);
    } finally {
      call.off('cancelled', cancel.cancel);
    }
  }

  /**
   * The call's message is in (just decoded): if reading it took a large part of its own budget,
   * the edge is behind (a burst's bodies queue behind one another in HTTP/2 flow control), and
   * the calls behind it will reach admission after their deadlines. Its own budget, not a fixed
   * time: a burst of calls with long budgets is still queued, not refused. The call's budget also
   * goes to the in-flight limit (the SLO its Little's law uses).
   */
  private noteIntake(slo: { readonly arrivalMs: number; readonly budgetMs: number }): void {
    const f = this.opts.intakeLagFraction;
    const limit = this.opts.inflightLimit;
    if (limit === undefined) return;
    limit.budget(slo.budgetMs); // the SLO the door's Little's law uses
    if (f === undefined || f <= 0) return;
    const now = this.now();
    if (now - slo.arrivalMs > f * slo.budgetMs) limit.behind(now);
  }

  /** One unary inference request on grpc-js's path: validate, run, encode. */
  private async inferCore(req: WireInferRequestOrFailure, grpcDeadlineMs: number, cancel: CallCancel): Promise<WireModelInferResponse> {
    const [prepared, answer] = await this.inferAnswer(req, grpcDeadlineMs, cancel);
    return this.encode(prepared, answer);
  }

  /** Validate and run one unary inference request (either path); the caller encodes. */
  private async inferAnswer(req: WireInferRequestOrFailure, grpcDeadlineMs: number, cancel: CallCancel): Promise<[Prepared, InferAnswer]> {
    if (isWireDecodeFailure(req)) {
      const err = new SlackserveError(req.code, req.message);
      this.edgeFailure({}, err);
      throw err;
    }
    let prepared: Prepared;
    try {
      prepared = this.prepare(req, 'grpc', grpcDeadlineMs);
    } catch (err) {
      this.edgeFailure(req, err);
      throw err;
    }
    this.noteIntake(prepared.decoded.slo);
    const answer = await this.backend.infer(prepared.decoded, { cancel });
    return [prepared, answer];
  }
}
