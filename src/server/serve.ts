/**
 * Assembles a process from the configuration: a frontend (gRPC + HTTP edges, admission, reply
 * routing), a worker (worker loop + executor threads), or both (`slackserve serve`). Every role
 * talks only through the request queue, so the same code runs all-in-one (in-process queue) or
 * split across processes and machines (Redis).
 */
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { join } from 'node:path';
import { apiTokensOf, type AuthTokens, authorized, metricsTokensOf, unauthenticated } from '../api/auth.js';
import { InflightLimit } from '../api/inflight-limit.js';
import { GrpcInferenceServer } from '../api/grpc-server.js';
import { HttpInferenceServer, sendJson } from '../api/http-server.js';
import { toHttpError } from '../api/status.js';
import { httpsOptions, tlsOf, type TlsMaterial } from '../api/tls.js';
import { executorSettings, parseSentinels, redactedConfig, usesRedis, type Config } from '../config.js';
import { SLO_PARAMS, TRITON_PARAMS } from '../api/slo.js';
import { mountDashboard } from '../dashboard/dashboard.js';
import { publishOutcomes } from '../dashboard/outcome-bus.js';
import { SlackserveError } from '../errors.js';
import { DEFAULT_TUNER, ExitManager } from '../exits/index.js';
import { Metrics } from '../metrics/metrics.js';
import { createQueue, targetAddress, type RedisTarget } from '../queue/index.js';
import type { RequestQueue } from '../queue/types.js';
import { Executor } from '../runtime/executor.js';
import { LatencyTable } from '../scheduler/latency-table.js';
import { buildPolicy, policyOptionsFrom } from '../scheduler/registry.js';
import { LoopGuard } from '../worker/loop-guard.js';
import { Catalogue } from '../supernet/catalogue.js';
import { loadProfile } from '../supernet/profile-file.js';
import { epochMs, WorkerLoop } from '../worker/worker-loop.js';
import { Frontend } from './frontend.js';

export interface Roles {
  readonly frontend: boolean;
  readonly worker: boolean;
}

export interface ServerHandle {
  readonly grpcPort: number | undefined;
  readonly httpPort: number | undefined;
  readonly metricsPort: number | undefined;
  readonly frontend: Frontend | undefined;
  readonly worker: WorkerLoop | undefined;
  readonly executor: Executor | undefined;
  readonly exits: ExitManager | undefined;
  readonly metrics: Metrics;
  readonly queue: RequestQueue;
  readonly catalogue: Catalogue;
  readonly table: LatencyTable;
  /** Extra HTTP routes (dashboard) can be added here before or after start. */
  readonly http: HttpInferenceServer | undefined;
  /**
   * Graceful drain of a frontend (SIGTERM): readiness false at once, calls still served for
   * `delayMs` (load balancers see not-ready and stop sending), then new calls refused UNAVAILABLE
   * "server is draining" while those in flight finish (at most `timeoutMs`). Call stop() after.
   */
  drain(delayMs: number, timeoutMs: number): Promise<void>;
  stop(): Promise<void>;
}

const profileFile = (cfg: Config): string => (cfg.profile === 'auto' ? join(cfg.supernet, 'profiles', 'cpu-2core.json') : cfg.profile);

export function latencyTableFor(cfg: Config, cat: Catalogue): LatencyTable {
  const accuracy: Record<string, number> = {};
  for (const s of cat.subnets) if (s.top1 !== undefined) accuracy[s.id] = s.top1;
  return LatencyTable.fromProfile(loadProfile(profileFile(cfg)), { accuracy, quantile: cfg.latencyQuantile, maxBatch: cfg.maxBatch });
}

/** The early-exit loops for the served subnets, or undefined when exits are off. */
export function exitManagerFor(cfg: Config, cat: Catalogue): ExitManager | undefined {
  if (cfg.exits === 'off') return undefined;
  const served = new Set(cat.pareto.map((s) => s.id));
  return ExitManager.fromProfile(
    cat.subnets.filter((s) => served.has(s.id)),
    cat.numClasses,
    loadProfile(profileFile(cfg)),
    { policy: cfg.exits, warmupSamples: cfg.exitWarmupSamples, tuner: { ...DEFAULT_TUNER, budget: cfg.exitAccuracyBudget } },
  );
}

/** Whether `host` is a loopback address (only this machine can connect). */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h) || /^::ffff:127\./.test(h);
}

/** The startup warnings a configuration earns (exposed without authentication). */
export function securityWarnings(cfg: Config, roles: Roles, auth: AuthTokens): string[] {
  if (isLoopbackHost(cfg.host)) return [];
  const out: string[] = [];
  if (roles.frontend && !auth.api.enabled)
    out.push(`WARNING: gRPC and HTTP bind ${cfg.host} without authTokens: anyone who can reach this host may run inference (set authTokens/authTokensFile, or bind 127.0.0.1)`);
  if (!auth.metrics.enabled)
    out.push(`WARNING: /metrics${roles.frontend ? ' and /dashboard' : ''} on ${cfg.host} need no token (set metricsToken to require one)`);
  if (cfg.tlsCert === '') out.push(`WARNING: ${cfg.host} is served without TLS: tokens and tensors travel in plaintext (set tlsCert and tlsKey)`);
  return out;
}

/** Where the queue's Redis is (a URL, or Sentinels and the URL's credentials); undefined: in-process. */
export function redisTargetOf(cfg: Config): RedisTarget | undefined {
  if (!usesRedis(cfg)) return undefined;
  const url = cfg.redisUrl === 'embedded' ? 'redis://' : cfg.redisUrl;
  const tls = cfg.redisTlsCa === '' ? {} : { tlsCa: readRedisCa(cfg.redisTlsCa) };
  if (cfg.redisSentinels === '') return { url, ...tls };
  return { url, sentinels: parseSentinels(cfg.redisSentinels), sentinelName: cfg.redisSentinelName, sentinelPassword: cfg.redisSentinelPassword, ...tls };
}

function readRedisCa(path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (e) {
    throw new SlackserveError('CONFIG_INVALID', `redisTlsCa: cannot read ${path}: ${e instanceof Error ? e.message : String(e)}`);
  }
}

const queueFor = (cfg: Config, log: (line: string) => void): RequestQueue => {
  const t = redisTargetOf(cfg);
  // with Sentinels a failover promotes a replica: a request is accepted once one holds it
  const waitReplicas = cfg.redisWaitReplicas >= 0 ? cfg.redisWaitReplicas : (t?.sentinels?.length ?? 0) > 0 ? 1 : 0;
  return createQueue({
    redisUrl: t?.url,
    sentinels: t?.sentinels,
    sentinelName: t?.sentinelName,
    sentinelPassword: t?.sentinelPassword,
    tlsCa: t?.tlsCa,
    prefix: cfg.queuePrefix,
    maxPending: cfg.maxPending,
    workerTtlMs: cfg.workerTtlMs,
    waitReplicas,
    waitTimeoutMs: cfg.redisWaitTimeoutMs,
    log,
  });
};

/** The queue as the startup line shows it: never a password. */
function queueShown(cfg: Config, redactedUrl: string): string {
  const t = redisTargetOf(cfg);
  if (!t) return 'in-process';
  return t.sentinels ? `redis ${targetAddress(t)}` : redactedUrl;
}

export async function startServer(cfg: Config, roles: Roles, log: (line: string) => void = () => undefined): Promise<ServerHandle> {
  if (!roles.frontend && !roles.worker) throw new SlackserveError('CONFIG_INVALID', 'a process needs at least one role');
  if (!usesRedis(cfg) && !(roles.frontend && roles.worker))
    throw new SlackserveError('CONFIG_INVALID', 'split frontend/worker processes share work through Redis: set redisUrl (--redis URL) or redisSentinels');
  const catalogue = Catalogue.load(cfg.supernet);
  const table = latencyTableFor(cfg, catalogue);
  const policy = buildPolicy(cfg.policy, table, policyOptionsFrom(cfg)); // fail on a bad name before binding ports
  const model = catalogue.manifest.name;
  const metrics = new Metrics(roles.frontend && roles.worker ? 'serve' : roles.frontend ? 'frontend' : 'worker');
  const auth: AuthTokens = { api: apiTokensOf(cfg), metrics: metricsTokensOf(cfg) };
  const tls = tlsOf(cfg); // unreadable files fail here, before anything binds
  const queue = queueFor(cfg, log);
  const tag = `${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  const stops: (() => Promise<void>)[] = [];
  const stopAll = async (): Promise<void> => {
    for (const s of stops.splice(0).reverse()) await s().catch((e: unknown) => log(`shutdown step failed: ${String(e)}`));
  };
  try {
    stops.push(() => queue.close());
    let executor: Executor | undefined;
    let worker: WorkerLoop | undefined;
    const exits = roles.worker ? exitManagerFor(cfg, catalogue) : undefined;
    if (exits) metrics.observeExits(() => exits.snapshot());
    if (roles.worker) {
      executor = await Executor.start(cfg.supernet, executorSettings(cfg));
      const ex = executor;
      stops.push(() => ex.close());
      // with the edge in this process, keep a core for its event loop when it lags (loop-guard.ts)
      let wakeWorker = (): void => undefined;
      const guard =
        roles.frontend && cfg.eventLoopGuardMs > 0 && cfg.executorThreads > 1
          ? new LoopGuard({ slots: cfg.executorThreads, thresholdMs: cfg.eventLoopGuardMs, onRaise: () => wakeWorker() })
          : undefined;
      if (guard) stops.push(async () => guard.close());
      worker = new WorkerLoop({
        id: `worker-${tag}`,
        model,
        queue,
        executor,
        policy,
        table,
        slots: cfg.executorThreads,
        maxBatch: cfg.maxBatch,
        sampleSize: catalogue.sampleSize,
        localCap: cfg.workerLocalCap,
        pullBlockMs: 200,
        reclaimEveryMs: Math.max(50, cfg.reclaimIdleMs / 2),
        reclaimIdleMs: cfg.reclaimIdleMs,
        clock: epochMs,
        metrics,
        log,
        classes: catalogue.numClasses,
        ...(exits ? { exits, exitSaveCompute: cfg.exitMode === 'save-compute' } : {}),
        ...(guard ? { slotLimit: () => guard.limit } : {}),
      });
      const w = worker;
      wakeWorker = () => w.wake();
      w.start();
      stops.push(() => w.stop());
    }
    let frontend: Frontend | undefined;
    let grpc: GrpcInferenceServer | undefined;
    let http: HttpInferenceServer | undefined;
    let metricsServer: Server | undefined;
    if (roles.frontend) {
      frontend = new Frontend({
        id: `frontend-${tag}`,
        queue,
        catalogue,
        table,
        admission: cfg.admission,
        dispatchOverheadMs: cfg.dispatchOverheadMs,
        executors: cfg.executorThreads,
        maxBatch: cfg.maxBatch,
        // a dead worker's requests are reclaimed once its heartbeat lapses (TTL) and they sat idle
        graceMs: cfg.workerTtlMs + 2 * cfg.reclaimIdleMs + 2000,
        edgeMarginMs: cfg.edgeMarginMs,
        edgeMarginQuantile: cfg.edgeMarginQuantile,
        clock: epochMs,
        version: cfg.modelVersion,
        metrics,
        ...(executor ? { localReady: () => true } : {}),
        log,
        modelConfig: {
          instances: roles.worker ? cfg.executorThreads : 0,
          maxQueueSize: cfg.maxPending,
          defaultTimeoutUs: cfg.defaultSloMs * 1000,
          maxQueueDelayUs: Math.round(cfg.maxQueueDelayMs * 1000),
          preferredBatch: Math.min(cfg.preferredBatchImages, cfg.maxBatch),
          parameters: {
            'slackserve.subnets': table.subnets.map((s) => s.id).join(','),
            'slackserve.subnet_accuracy': table.subnets.map((s) => `${s.id}=${s.accuracy}`).join(','),
            'slackserve.pareto': catalogue.pareto.map((s) => s.id).join(','),
            'slackserve.policy': cfg.policy,
            'slackserve.admission': cfg.admission,
            'slackserve.default_slo_ms': String(cfg.defaultSloMs),
            'slackserve.edge_margin_ms': String(cfg.edgeMarginMs),
            'slackserve.edge_margin_quantile': String(cfg.edgeMarginQuantile),
            'slackserve.exits': cfg.exits,
            'slackserve.exit_mode': cfg.exitMode,
            'slackserve.exit_accuracy_budget': String(cfg.exitAccuracyBudget),
            'slackserve.slo_parameters': [...Object.values(SLO_PARAMS), ...Object.values(TRITON_PARAMS)].join(','),
          },
        },
      });
      const f = frontend;
      await f.start();
      stops.push(() => f.stop());
      // one limit for both edges: they share the cores, and the answers of both measure the rate
      const inflightLimit = new InflightLimit({ max: cfg.maxInflight, sloFactor: cfg.inflightSloFactor, sloMs: cfg.defaultSloMs, floor: cfg.inflightFloor });
      // a shed call (admission, or a worker that could not make the deadline) turns the door limit
      // on, unless no subnet could have served it even on an idle server (not a sign of load)
      const offShed = f.onOutcome((e) => {
        if (e.shed && e.infeasible !== true) inflightLimit.shed(epochMs());
      });
      stops.push(async () => void offShed());
      grpc = new GrpcInferenceServer(f, {
        host: cfg.host,
        port: cfg.grpcPort,
        defaultBudgetMs: cfg.defaultSloMs,
        now: epochMs,
        maxReceiveMessageBytes: cfg.grpcMaxMessageBytes,
        maxConcurrentStreams: cfg.grpcMaxConcurrentStreams,
        sheddingStreams: cfg.grpcSheddingStreams,
        fastInfer: cfg.grpcFastInfer === 'on',
        keepaliveTimeMs: cfg.grpcKeepaliveTimeMs,
        keepaliveTimeoutMs: cfg.grpcKeepaliveTimeoutMs,
        maxConnectionIdleMs: cfg.grpcMaxConnectionIdleMs,
        maxInflight: cfg.maxInflight,
        inflightLimit,
        readTimeoutMs: cfg.requestReadTimeoutMs,
        intakeLagFraction: cfg.inflightIntakeLagFraction,
        maxStreamInflight: cfg.maxStreamInflight,
        auth: auth.api,
        tls,
        draining: () => f.refusing,
      });
      await grpc.start();
      const g = grpc;
      metrics.observeStreamShedding(() => g.streamShedding);
      stops.push(() => g.stop());
      http = new HttpInferenceServer(f, {
        host: cfg.host,
        port: cfg.httpPort,
        defaultBudgetMs: cfg.defaultSloMs,
        now: epochMs,
        bodyLimitBytes: cfg.httpBodyLimitBytes,
        maxInflight: cfg.maxInflight,
        inflightLimit,
        readTimeoutMs: cfg.requestReadTimeoutMs,
        auth,
        tls,
        draining: () => f.refusing,
      });
      http.route(
        'GET',
        '/metrics',
        async (_req, res) => {
          res.writeHead(200, { 'content-type': metrics.contentType });
          res.end(await metrics.text());
        },
        'metrics',
      );
      const w = worker;
      const dash = mountDashboard(http, {
        outcomes: (l) => f.onOutcome(l),
        queue: () => ({ shared: f.queueDepth, local: w?.localDepth ?? null, inFlight: f.inFlight }),
        worker,
        exits,
        executorThreads: cfg.executorThreads,
        policy: policy.name,
        model,
        subnets: table.subnets.map((s) => s.id),
        accuracyRange: { min: Math.min(...table.subnets.map((s) => s.accuracy)), max: Math.max(...table.subnets.map((s) => s.accuracy)) },
        clock: epochMs,
      });
      // split deployments: `slackserve dashboard --redis URL` watches every frontend's outcomes
      const target = redisTargetOf(cfg);
      if (target) {
        const bus = publishOutcomes(target, cfg.queuePrefix, f);
        stops.push(() => bus.close());
      }
      await http.start();
      const h = http;
      stops.push(() => h.stop());
      stops.push(async () => dash.close()); // event streams end first, so the HTTP server stops at once
    } else {
      metricsServer = await workerMetricsServer(cfg, metrics, queue, auth, tls);
      const ms = metricsServer;
      stops.push(() => new Promise<void>((res) => ms.close(() => res())));
    }
    const addr = metricsServer?.address();
    const shown = redactedConfig(cfg); // the log never holds a secret (the Redis URL's password)
    for (const w of securityWarnings(cfg, roles, auth)) log(w);
    if (grpc?.fastInfer?.attached === false) log('gRPC ModelInfer fast path unavailable (grpc-js internals not as expected): every call goes through grpc-js');
    log(
      `slackserve ${metrics.role}: model ${model} (${table.subnets.length} subnets), policy ${policy.name}, exits ${cfg.exits}, queue ${queueShown(cfg, String(shown.redisUrl))}` +
        (grpc ? `, gRPC :${grpc.port}, HTTP :${http?.port}` : '') +
        (addr && typeof addr === 'object' ? `, metrics :${addr.port}` : '') +
        `, host ${cfg.host}${tls ? (tls.clientCa ? ', TLS (mutual)' : ', TLS') : ''}, auth ${auth.api.enabled ? `${auth.api.size} token(s)` : 'off'}` +
        (grpc?.fastInfer?.attached === true ? ', ModelInfer fast path' : ''),
    );
    return {
      grpcPort: grpc?.port,
      httpPort: http?.port,
      metricsPort: addr && typeof addr === 'object' ? addr.port : undefined,
      frontend,
      worker,
      executor,
      exits,
      metrics,
      queue,
      catalogue,
      table,
      http,
      drain: async (delayMs: number, timeoutMs: number) => {
        const f = frontend;
        if (!f) return;
        f.drain(false);
        log(`draining: not ready; serving ${delayMs} ms more`);
        await new Promise((res) => setTimeout(res, delayMs));
        f.drain(true);
        log(`draining: refusing new calls; ${f.inFlight} call(s) in flight`);
        if (!(await f.waitIdle(timeoutMs))) log(`draining: ${f.inFlight} call(s) still in flight after ${timeoutMs} ms; stopping anyway`);
      },
      stop: stopAll,
    };
  } catch (e) {
    await stopAll();
    throw e;
  }
}

/**
 * A worker-only process still answers /metrics and health checks (liveness never needs Redis).
 * /metrics needs the metrics token when one is set; health stays open. TLS as the frontend's.
 */
async function workerMetricsServer(cfg: Config, metrics: Metrics, queue: RequestQueue, auth: AuthTokens, tls: TlsMaterial | undefined): Promise<Server> {
  const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    void (async () => {
      if (req.url === '/metrics' && !authorized(auth, 'metrics', req.headers.authorization)) {
        const h = toHttpError(unauthenticated('metrics', req.headers.authorization));
        sendJson(res, h.status, h.body, h.headers);
      } else if (req.url === '/metrics') {
        res.writeHead(200, { 'content-type': metrics.contentType });
        res.end(await metrics.text());
      } else if (req.url === '/v2/health/live') res.writeHead(200).end();
      else if (req.url === '/v2/health/ready') res.writeHead((await queue.ready()) ? 200 : 503).end();
      else sendJson(res, 404, { error: `no route ${req.url ?? ''}` });
    })();
  };
  const server: Server = tls ? (createHttpsServer(httpsOptions(tls), onRequest) as unknown as Server) : createServer(onRequest);
  await new Promise<void>((res, rej) => {
    server.once('error', rej);
    server.listen(cfg.metricsPort, cfg.host, () => res());
  });
  return server;
}
