/**
 * The settings' schema: every setting with its type, bounds, default, environment variable and one
 * doc line. Part of the one configuration module (config.ts loads, validates and freezes it;
 * `docs/config.md` is generated from this table). Kept in its own file because it is long.
 */
export interface FieldBase<T> {
  readonly doc: string;
  readonly default: T;
  readonly env: string;
}
export interface StringField extends FieldBase<string> {
  readonly type: 'string';
  /** May be empty (the default `''` means unset). */
  readonly optional?: boolean;
  /** Never printed as is: `value` shows as `***`, `url` hides the URL's password (`redactedConfig`). */
  readonly secret?: 'value' | 'url';
}
export interface IntField extends FieldBase<number> {
  readonly type: 'int';
  readonly min: number;
  readonly max: number;
}
export interface NumberField extends FieldBase<number> {
  readonly type: 'number';
  readonly min: number;
  readonly max: number;
}
export interface EnumField<V extends string> extends FieldBase<V> {
  readonly type: 'enum';
  readonly values: readonly V[];
}
export type Field = StringField | IntField | NumberField | EnumField<string>;

/** Every setting, with its doc line. `docs/config.md` is generated from this table. */
export const SCHEMA = {
  supernet: {
    type: 'string',
    default: 'supernets/fmnist-resnet',
    env: 'SLACKSERVE_SUPERNET',
    doc: 'Directory holding the supernet manifest.json and its ONNX graphs.',
  },
  profile: {
    type: 'string',
    default: 'auto',
    env: 'SLACKSERVE_PROFILE',
    doc: 'Latency profile JSON the scheduler plans with; `auto` = <supernet>/profiles/cpu-2core.json.',
  },
  ortIntraOpThreads: {
    type: 'int',
    default: 1,
    min: 1,
    max: 64,
    env: 'SLACKSERVE_ORT_INTRA_OP_THREADS',
    doc: 'onnxruntime intra-op threads per session (1 avoids idle threads spinning on 2 cores).',
  },
  ortSpinning: {
    type: 'enum',
    values: ['off', 'on'],
    default: 'off',
    env: 'SLACKSERVE_ORT_SPINNING',
    doc: 'Let idle onnxruntime intra-op threads busy-wait (session.intra_op.allow_spinning).',
  },
  encoding: {
    type: 'enum',
    values: ['branched', 'sliced'],
    default: 'branched',
    env: 'SLACKSERVE_ENCODING',
    doc: 'SubNetAct encoding the executor runs: constant per-width branches, or run-time weight slices.',
  },
  executorThreads: {
    type: 'int',
    default: 2,
    min: 1,
    max: 64,
    env: 'SLACKSERVE_EXECUTOR_THREADS',
    doc: 'Executor worker threads, each holding its own sessions and running one batch at a time (2 x 1 intra-op thread measured best here).',
  },
  eventLoopGuardMs: {
    type: 'number',
    default: 10,
    min: 0,
    max: 1000,
    env: 'SLACKSERVE_EVENT_LOOP_GUARD_MS',
    doc: 'serve (edge and executor in one process): while the event loop delay p99 (100 ms samples) is above this, run one batch fewer at once so the event loop keeps a core; 0 = off.',
  },
  maxBatch: {
    type: 'int',
    default: 64,
    min: 1,
    max: 4096,
    env: 'SLACKSERVE_MAX_BATCH',
    doc: 'Largest batch the executor accepts; larger batches are rejected with INPUT_INVALID.',
  },
  executionProvider: {
    type: 'enum',
    values: ['cpu', 'cuda'],
    default: 'cpu',
    env: 'SLACKSERVE_EXECUTION_PROVIDER',
    doc: 'onnxruntime execution provider; cuda needs onnxruntime-node built with CUDA.',
  },
  policy: {
    type: 'string',
    default: 'slackfit',
    env: 'SLACKSERVE_POLICY',
    doc: 'Scheduling policy: slackfit, infaas, or static|clipper|clockwork with :<subnet>, -smallest or -largest (docs/scheduling.md).',
  },
  slackfitBucketMs: {
    type: 'number',
    default: 1,
    min: 0.01,
    max: 1000,
    env: 'SLACKSERVE_SLACKFIT_BUCKET_MS',
    doc: "Width of SlackFit's latency buckets, ms (the paper leaves it open).",
  },
  slackfitTieBreak: {
    type: 'enum',
    values: ['batch', 'accuracy'],
    default: 'batch',
    env: 'SLACKSERVE_SLACKFIT_TIE_BREAK',
    doc: 'Inside a SlackFit bucket, maximise the batch first (then accuracy) or accuracy first (then batch).',
  },
  slackfitExitAware: {
    type: 'enum',
    values: ['off', 'on'],
    default: 'off',
    env: 'SLACKSERVE_SLACKFIT_EXIT_AWARE',
    doc: 'With exits on: SlackFit plans with the median answer latency exits give (may pick larger subnets). Off by default: measured worse here (docs/exits.md).',
  },
  slackfitRule: {
    type: 'enum',
    values: ['drain', 'paper'],
    default: 'drain',
    env: 'SLACKSERVE_SLACKFIT_RULE',
    doc: "SlackFit's rule: drain (online latency model per subnet, batch size and batches running; pairs must keep up with arrivals) or paper (the paper's bucket rule with one calibration ratio), docs/scheduling.md.",
  },
  slackfitDrainMargin: {
    type: 'number',
    default: 1.5,
    min: 1,
    max: 10,
    env: 'SLACKSERVE_SLACKFIT_DRAIN_MARGIN',
    doc: 'drain rule: a (subnet, batch) keeps up when it drains this many times the arrival rate, plus the queued images within the head slack.',
  },
  slackfitModelQuantile: {
    type: 'number',
    default: 0.5,
    min: 0.5,
    max: 0.999,
    env: 'SLACKSERVE_SLACKFIT_MODEL_QUANTILE',
    doc: 'drain rule: quantile of observed/profiled batch latency the online latency model plans with (0.5 measured best here: 0.75 and 0.95 shed more than they save, docs/scheduling.md).',
  },
  latencyQuantile: {
    type: 'enum',
    values: ['p95', 'p50'],
    default: 'p95',
    env: 'SLACKSERVE_LATENCY_QUANTILE',
    doc: 'Which profiled latency the policies plan with (p95 is conservative: fewer misses, smaller subnets).',
  },
  admission: {
    type: 'enum',
    values: ['reject', 'downgrade', 'off'],
    default: 'reject',
    env: 'SLACKSERVE_ADMISSION',
    doc: 'A request no eligible subnet can serve in time, given the queue ahead: reject at once, downgrade (lift its minimum accuracy), or queue it anyway.',
  },
  dispatchOverheadMs: {
    type: 'number',
    default: 0.2,
    min: 0,
    max: 1000,
    env: 'SLACKSERVE_DISPATCH_OVERHEAD_MS',
    doc: 'Time between a scheduling decision and the batch starting (hop to the executor thread), ms; policies plan with it.',
  },
  edgeMarginMs: {
    type: 'number',
    default: 5,
    min: 0,
    max: 10000,
    env: 'SLACKSERVE_EDGE_MARGIN_MS',
    doc: 'Frontend: the worker must finish this long before the client\'s deadline, leaving time to send the answer back (gRPC/HTTP, reply hop).',
  },
  dropInfeasible: {
    type: 'enum',
    values: ['on', 'off'],
    default: 'on',
    env: 'SLACKSERVE_DROP_INFEASIBLE',
    doc: 'Drop (with UNAVAILABLE) sheddable queued requests that even the fastest eligible subnet can no longer finish in time.',
  },
  maxLoadedVariants: {
    type: 'int',
    default: 3,
    min: 1,
    max: 64,
    env: 'SLACKSERVE_MAX_LOADED_VARIANTS',
    doc: 'INFaaS baseline only: separately loaded model variants an executor keeps (LRU).',
  },
  host: {
    type: 'string',
    default: '127.0.0.1',
    env: 'SLACKSERVE_HOST',
    doc: 'Address the gRPC, HTTP and worker metrics servers bind to (loopback only by default); another address without `authTokens` logs a warning at startup.',
  },
  grpcPort: {
    type: 'int',
    default: 8001,
    min: 0,
    max: 65535,
    env: 'SLACKSERVE_GRPC_PORT',
    doc: "gRPC port (Open Inference Protocol; Triton's default). 0 picks a free port.",
  },
  httpPort: {
    type: 'int',
    default: 8000,
    min: 0,
    max: 65535,
    env: 'SLACKSERVE_HTTP_PORT',
    doc: "HTTP port: REST /v2, /metrics, /dashboard (Triton's default). 0 picks a free port.",
  },
  metricsPort: {
    type: 'int',
    default: 8002,
    min: 0,
    max: 65535,
    env: 'SLACKSERVE_METRICS_PORT',
    doc: "`slackserve worker` only: port of its /metrics and /v2/health endpoints (Triton's metrics port).",
  },
  authTokens: {
    type: 'string',
    optional: true,
    secret: 'value',
    default: '',
    env: 'SLACKSERVE_AUTH_TOKENS',
    doc: 'Comma-separated bearer tokens any one of which a gRPC call (`authorization: Bearer <token>` metadata) or HTTP request (`Authorization` header) must carry; health checks stay open. Unset (and no `authTokensFile`): no authentication.',
  },
  authTokensFile: {
    type: 'string',
    optional: true,
    default: '',
    env: 'SLACKSERVE_AUTH_TOKENS_FILE',
    doc: 'File of further bearer tokens, one a line (`#` starts a comment), read at startup.',
  },
  metricsToken: {
    type: 'string',
    optional: true,
    secret: 'value',
    default: '',
    env: 'SLACKSERVE_METRICS_TOKEN',
    doc: 'Bearer token /metrics and /dashboard (and a worker\'s metrics port) require; unset: they stay open. Browsers may send it as the password of HTTP Basic auth.',
  },
  tlsCert: {
    type: 'string',
    optional: true,
    default: '',
    env: 'SLACKSERVE_TLS_CERT',
    doc: 'PEM certificate chain: with `tlsKey`, gRPC and HTTP (and a worker\'s metrics port) serve TLS only.',
  },
  tlsKey: {
    type: 'string',
    optional: true,
    default: '',
    env: 'SLACKSERVE_TLS_KEY',
    doc: 'PEM private key of `tlsCert`.',
  },
  tlsClientCa: {
    type: 'string',
    optional: true,
    default: '',
    env: 'SLACKSERVE_TLS_CLIENT_CA',
    doc: 'PEM CA bundle: with it, clients must present a certificate it signed (mutual TLS); needs `tlsCert`.',
  },
  grpcMaxConcurrentStreams: {
    type: 'int',
    default: 1000,
    min: 1,
    max: 1000000,
    env: 'SLACKSERVE_GRPC_MAX_CONCURRENT_STREAMS',
    doc: 'HTTP/2 streams one gRPC connection may have open at once (`grpc.max_concurrent_streams`); clients queue the calls past it.',
  },
  grpcMaxMessageBytes: {
    type: 'int',
    default: 4194304,
    min: 1024,
    max: 1073741824,
    env: 'SLACKSERVE_GRPC_MAX_MESSAGE_BYTES',
    doc: "Largest gRPC request message, bytes (gRPC's usual 4 MiB; a 64-image request is ~200 KB); larger ones get RESOURCE_EXHAUSTED.",
  },
  grpcKeepaliveTimeMs: {
    type: 'int',
    default: 60000,
    min: 1000,
    max: 86400000,
    env: 'SLACKSERVE_GRPC_KEEPALIVE_TIME_MS',
    doc: 'The server pings an idle-looking gRPC connection this often, to find peers that vanished (`grpc.keepalive_time_ms`).',
  },
  grpcKeepaliveTimeoutMs: {
    type: 'int',
    default: 20000,
    min: 100,
    max: 3600000,
    env: 'SLACKSERVE_GRPC_KEEPALIVE_TIMEOUT_MS',
    doc: 'A keepalive ping unanswered this long closes the connection (`grpc.keepalive_timeout_ms`).',
  },
  grpcMaxConnectionIdleMs: {
    type: 'int',
    default: 300000,
    min: 1000,
    max: 86400000,
    env: 'SLACKSERVE_GRPC_MAX_CONNECTION_IDLE_MS',
    doc: 'A gRPC connection with no call for this long is closed with GOAWAY (clients reconnect on their next call).',
  },
  maxInflight: {
    type: 'int',
    default: 20000,
    min: 1,
    max: 10000000,
    env: 'SLACKSERVE_MAX_INFLIGHT',
    doc: 'Calls one frontend holds at once (gRPC calls and streams, HTTP requests); past it: RESOURCE_EXHAUSTED / HTTP 429 at once.',
  },
  requestReadTimeoutMs: {
    type: 'int',
    default: 10000,
    min: 10,
    max: 3600000,
    env: 'SLACKSERVE_REQUEST_READ_TIMEOUT_MS',
    doc: 'A request whose body has not arrived this long after its headers is ended (gRPC DEADLINE_EXCEEDED, HTTP 408): half-open calls hold no memory.',
  },
  maxStreamInflight: {
    type: 'int',
    default: 1000,
    min: 1,
    max: 1000000,
    env: 'SLACKSERVE_MAX_STREAM_INFLIGHT',
    doc: 'Requests one ModelStreamInfer stream may have unanswered at once; past it each new one gets a RESOURCE_EXHAUSTED error message.',
  },
  httpBodyLimitBytes: {
    type: 'int',
    default: 8388608,
    min: 1024,
    max: 1073741824,
    env: 'SLACKSERVE_HTTP_BODY_LIMIT_BYTES',
    doc: 'Largest HTTP request body, bytes (a 64-image JSON request is ~1 MB); larger ones get 413 before the body is read.',
  },
  redisUrl: {
    type: 'string',
    default: 'embedded',
    secret: 'url',
    env: 'SLACKSERVE_REDIS_URL',
    doc: 'Redis URL for the request queue (e.g. redis://127.0.0.1:6379), or `embedded` for the in-process queue (serve only).',
  },
  redisSentinels: {
    type: 'string',
    optional: true,
    default: '',
    env: 'SLACKSERVE_REDIS_SENTINELS',
    doc: 'Comma-separated Redis Sentinels (`host:port,host:port`): the queue asks them for the master of `redisSentinelName` and follows failovers; `redisUrl` then gives only the master\'s user, password and db (its host and port are ignored; `embedded` means none). Unset: `redisUrl` alone.',
  },
  redisSentinelName: {
    type: 'string',
    default: 'mymaster',
    env: 'SLACKSERVE_REDIS_SENTINEL_NAME',
    doc: 'Name of the master the Sentinels monitor (`sentinel monitor <name> ...`); used with `redisSentinels`.',
  },
  redisSentinelPassword: {
    type: 'string',
    optional: true,
    secret: 'value',
    default: '',
    env: 'SLACKSERVE_REDIS_SENTINEL_PASSWORD',
    doc: "Password of the Sentinels themselves (their `requirepass`), if they have one; the master's password goes in `redisUrl`.",
  },
  queuePrefix: {
    type: 'string',
    default: 'slackserve',
    env: 'SLACKSERVE_QUEUE_PREFIX',
    doc: 'Prefix of every Redis key the queue uses (deployments sharing one Redis need distinct prefixes).',
  },
  maxPending: {
    type: 'int',
    default: 100000,
    min: 1,
    max: 10000000,
    env: 'SLACKSERVE_MAX_PENDING',
    doc: 'Requests the shared queue holds before rejecting with UNAVAILABLE "Exceeds maximum queue size".',
  },
  defaultSloMs: {
    type: 'number',
    default: 100,
    min: 0.1,
    max: 3600000,
    env: 'SLACKSERVE_DEFAULT_SLO_MS',
    doc: 'Latency budget of requests that carry no SLO parameter, no Triton timeout and no gRPC deadline, ms.',
  },
  modelVersion: {
    type: 'string',
    default: '1',
    env: 'SLACKSERVE_MODEL_VERSION',
    doc: 'Version string the model is served under (the model name is the manifest name).',
  },
  workerLocalCap: {
    type: 'int',
    default: 256,
    min: 1,
    max: 100000,
    env: 'SLACKSERVE_WORKER_LOCAL_CAP',
    doc: "Requests a worker pulls into its local EDF queue at most; the rest stay shared for other workers.",
  },
  workerTtlMs: {
    type: 'int',
    default: 600,
    min: 30,
    max: 600000,
    env: 'SLACKSERVE_WORKER_TTL_MS',
    doc: 'A worker whose Redis heartbeat (refreshed every TTL/3) is older than this is dead: what it holds is reclaimed. Every process sharing a queue should use the same value.',
  },
  reclaimIdleMs: {
    type: 'int',
    default: 300,
    min: 10,
    max: 600000,
    env: 'SLACKSERVE_RECLAIM_IDLE_MS',
    doc: 'A dead worker\'s pulled-but-unanswered requests are taken over by another worker once they sat this long (checked every reclaimIdleMs/2); a frontend waits deadline + workerTtlMs + 2 * reclaimIdleMs + 2 s before failing a call no worker answered.',
  },
  drainDelayMs: {
    type: 'int',
    default: 5000,
    min: 0,
    max: 600000,
    env: 'SLACKSERVE_DRAIN_DELAY_MS',
    doc: 'On SIGTERM/SIGINT a frontend reports not-ready at once but keeps serving this long (load balancers stop sending), then refuses new calls with UNAVAILABLE "server is draining".',
  },
  drainTimeoutMs: {
    type: 'int',
    default: 30000,
    min: 0,
    max: 3600000,
    env: 'SLACKSERVE_DRAIN_TIMEOUT_MS',
    doc: 'After the drain delay, how long calls in flight may still take to finish before the process stops anyway (they then fail UNAVAILABLE).',
  },
  exits: {
    type: 'enum',
    values: ['off', 'threshold', 'recall'],
    default: 'off',
    env: 'SLACKSERVE_EXITS',
    doc: 'Early exits: off (whole-graph batches), threshold (Apparate: tuned 1 - max softmax thresholds) or recall (T-Tamer dynamic index); staged batches cost 1.1-1.5x a whole-graph one here (docs/runtime.md).',
  },
  exitMode: {
    type: 'enum',
    values: ['feedback', 'save-compute'],
    default: 'feedback',
    env: 'SLACKSERVE_EXIT_MODE',
    doc: 'feedback (Apparate): batches run to the end, every final output tunes the exits; save-compute: released rows leave later stages (less compute, no feedback from them).',
  },
  exitAccuracyBudget: {
    type: 'number',
    default: 0.01,
    min: 0,
    max: 0.5,
    env: 'SLACKSERVE_EXIT_ACCURACY_BUDGET',
    doc: 'Accuracy loss early answers may cost, relative to the final output (Apparate: 1%).',
  },
  exitWarmupSamples: {
    type: 'int',
    default: 512,
    min: 0,
    max: 1000000,
    env: 'SLACKSERVE_EXIT_WARMUP_SAMPLES',
    doc: 'Feedback inputs a subnet collects before it releases early answers (thresholds tuned on fewer overfit).',
  },
  logLevel: {
    type: 'enum',
    values: ['debug', 'info', 'warn', 'error'],
    default: 'info',
    env: 'SLACKSERVE_LOG_LEVEL',
    doc: 'Least severe log level printed.',
  },
} as const satisfies Record<string, Field>;
