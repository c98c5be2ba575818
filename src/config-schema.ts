/**
 * The settings' schema: every setting with its type, bounds, default, environment variable and one
 * doc line. Part of the one configuration module (config.ts loads, validates and freezes it;
 * `docs/config.md` is generated from this table). Kept in its own file because it is long; the
 * edge's and the queue's settings are in config-schema-edge.ts and config-schema-queue.ts, spread
 * into SCHEMA in place (the table's order is the docs' order).
 */
import { EDGE_FIELDS } from './config-schema-edge.js';
import { QUEUE_FIELDS } from './config-schema-queue.js';

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
  v8HeapGrowingPercent: {
    type: 'int',
    default: 400,
    min: 0,
    max: 10000,
    env: 'SLACKSERVE_V8_HEAP_GROWING_PERCENT',
    doc: "How far V8 lets the old generation grow past its live size before the next full GC, in percent (V8's --heap-growing-percent, set at start by serve, frontend, worker and demo). The server's live heap is small (~15 MB), and with V8's default limit a full GC ran every ~0.3 s under 16-image load; 400 cut full GCs ~7x and CPU per request ~20% (docs/serving.md). 0: V8's default.",
  },
  v8Pretenuring: {
    type: 'enum',
    values: ['off', 'on'],
    default: 'off',
    env: 'SLACKSERVE_V8_PRETENURING',
    doc: "V8's allocation-site pretenuring (--allocation-site-pretenuring, set at start by serve, frontend, worker and demo). On (V8's default), a scavenge that lands during a burst marks the request path's allocation sites long-lived, and every later request's objects go straight to the old generation: at 1,000 req/s that meant a full GC every ~0.8 s with 10-24 ms pauses. Off: none in 5 s, main-thread GC p99 ~2 ms (docs/serving.md).",
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
    default: 4,
    min: 0,
    max: 1000,
    env: 'SLACKSERVE_EVENT_LOOP_GUARD_MS',
    doc: 'serve (edge and executor in one process): while the event loop delay p99 (100 ms samples) is above this, run one batch fewer at once so the event loop keeps a core; 0 = off (4 measured better than 10 with 16-image requests, docs/scheduling.md).',
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
    default: 1,
    min: 1,
    max: 10,
    env: 'SLACKSERVE_SLACKFIT_DRAIN_MARGIN',
    doc: 'drain rule: a (subnet, batch) keeps up when it drains this many times the arrival rate, plus the queued images within the head slack (1 measured best live since full GCs became rare: docs/scheduling.md).',
  },
  slackfitDrainAt: {
    type: 'enum',
    values: ['batch', 'best'],
    default: 'best',
    env: 'SLACKSERVE_SLACKFIT_DRAIN_AT',
    doc: "drain rule: judge whether a subnet keeps up by the throughput of the batch queued now (batch) or by its best throughput at any batch size that fits the head's slack (best: batches grow under sustained load; measured better live, docs/scheduling.md).",
  },
  slackfitModelQuantile: {
    type: 'number',
    default: 0.5,
    min: 0.5,
    max: 0.999,
    env: 'SLACKSERVE_SLACKFIT_MODEL_QUANTILE',
    doc: 'drain rule: quantile of observed/profiled batch latency the online latency model plans with (0.5 measured best here: 0.75 and 0.95 shed more than they save, docs/scheduling.md).',
  },
  slackfitContentionAlpha: {
    type: 'number',
    default: 0.2,
    min: 0,
    max: 1,
    env: 'SLACKSERVE_SLACKFIT_CONTENTION_ALPHA',
    doc: 'drain rule: weight of the newest batch in the contention term (how much slower than planned all batches run now; scales every plan past a 15% dead band, so a subnet idle since a calm spell is not planned calm mid-burst). 0 turns it off.',
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
  maxQueueDelayMs: {
    type: 'number',
    default: 0,
    min: 0,
    max: 1000,
    env: 'SLACKSERVE_MAX_QUEUE_DELAY_MS',
    doc: "Queue delay, as Triton's max_queue_delay_microseconds: a batch that holds every queued request and fewer than preferredBatchImages images waits up to this long after its oldest request arrived, for more (0 = off; never past the deadline's room). docs/scheduling.md.",
  },
  preferredBatchImages: {
    type: 'int',
    default: 64,
    min: 1,
    max: 4096,
    env: 'SLACKSERVE_PREFERRED_BATCH_IMAGES',
    doc: "With a queue delay: a batch of this many images runs at once (Triton's preferred_batch_size).",
  },
  edgeMarginMs: {
    type: 'number',
    default: 5,
    min: 0,
    max: 10000,
    env: 'SLACKSERVE_EDGE_MARGIN_MS',
    doc: 'Frontend: the worker must finish this long before the client\'s deadline, leaving time to send the answer back (gRPC/HTTP, reply hop).',
  },
  edgeMarginQuantile: {
    type: 'number',
    default: 0.9,
    min: 0,
    max: 0.999,
    env: 'SLACKSERVE_EDGE_MARGIN_QUANTILE',
    doc: 'Frontend: when this quantile of the reply path (batch end to the answer at the frontend) over the last second\'s answers is above edgeMarginMs, the worker plans with it instead (capped at a quarter of the budget). 0: edgeMarginMs alone.',
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
  ...EDGE_FIELDS,
  ...QUEUE_FIELDS,
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
