/**
 * Triton's per-model statistics: one accumulator feeds both the statistics API
 * (`ModelStatistics` over gRPC, `GET /v2/models/{m}/stats`) and Triton's `nv_*` Prometheus
 * families (beside our `slackserve_*` ones), so the two always agree. Durations are kept in
 * nanoseconds like Triton's `StatisticDuration`; the metrics are Triton's cumulative microsecond
 * counters (`nv_inference_request_duration_us`...) with Triton's labels (`model`, `version`).
 *
 * What slackserve measures: the request duration at the frontend (success and fail), the queue
 * time and the worker's compute time, split Triton's way: `compute_input` is the copy of the
 * batch's requests into the executor's batch buffer, `compute_infer` the rest of the compute (the
 * hand-off to the executor thread and onnxruntime), `compute_output` building the request's reply
 * (its logits and classes) after the batch (docs/api.md).
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import { FastCounterChild, FastGaugeChild } from './fast-child.js';
import type { FailureReason } from './metrics.js';

export interface StatDuration {
  count: number;
  ns: number;
}

export interface ModelStatsRecord {
  readonly name: string;
  readonly version: string;
  lastInference: number;
  inferenceCount: number;
  readonly success: StatDuration;
  readonly fail: StatDuration;
  readonly queue: StatDuration;
  readonly computeInput: StatDuration;
  readonly computeInfer: StatDuration;
  readonly computeOutput: StatDuration;
}

/** What the statistics API answers for one model (Triton's ModelStatistics, JSON/gRPC shape). */
export interface ModelStatisticsView {
  readonly name: string;
  readonly version: string;
  readonly last_inference: number;
  readonly inference_count: number;
  readonly execution_count: number;
  readonly inference_stats: Readonly<Record<'success' | 'fail' | 'queue' | 'compute_input' | 'compute_infer' | 'compute_output' | 'cache_hit' | 'cache_miss', StatDuration>>;
  readonly batch_stats: readonly never[];
}

const zero = (): StatDuration => ({ count: 0, ns: 0 });

/** Label values `nv_inference_request_failure` uses for `reason` (Triton's set). */
export const FAILURE_REASONS: readonly FailureReason[] = ['REJECTED', 'CANCELED', 'BACKEND', 'OTHER'];

/** Sums a counter's values per `model` label (reads the worker's execution counter). */
export type ExecCountSource = () => Promise<ReadonlyMap<string, number>>;

/** One model's `nv_*` children, made once (prom-client re-hashes a label object per call). */
interface NvChildren {
  readonly success: FastCounterChild;
  readonly failure: ReadonlyMap<FailureReason, FastCounterChild>;
  readonly count: FastCounterChild;
  readonly requestUs: FastCounterChild;
  readonly queueUs: FastCounterChild;
  readonly inputUs: FastCounterChild;
  readonly inferUs: FastCounterChild;
  readonly outputUs: FastCounterChild;
  readonly pending: FastGaugeChild;
}

/** A known model: its statistics and its `nv_*` children (none without a registry). */
interface Known {
  readonly model: string;
  readonly version: string;
  readonly rec: ModelStatsRecord;
  readonly nv: NvChildren | undefined;
}

export class ModelStats {
  /** By model NUL version. */
  private readonly known = new Map<string, Known>();
  /** The model last looked up: one model is the common case. */
  private last: Known | undefined;
  private readonly nv:
    | {
        readonly success: Counter<'model' | 'version'>;
        readonly failure: Counter<'model' | 'version' | 'reason'>;
        readonly count: Counter<'model' | 'version'>;
        readonly requestUs: Counter<'model' | 'version'>;
        readonly queueUs: Counter<'model' | 'version'>;
        readonly inputUs: Counter<'model' | 'version'>;
        readonly inferUs: Counter<'model' | 'version'>;
        readonly outputUs: Counter<'model' | 'version'>;
        readonly pending: Gauge<'model' | 'version'>;
      }
    | undefined;

  /**
   * `registry`: where the `nv_*` families go (none: statistics API only). `execCounts`: the
   * executions per model this process ran (its own workers), for execution_count and
   * nv_inference_exec_count.
   */
  constructor(
    registry: Registry | undefined,
    private readonly execCounts: ExecCountSource = async () => new Map(),
    private readonly clock: () => number = Date.now,
  ) {
    if (!registry) return;
    const r = [registry];
    const labelNames = ['model', 'version'] as const;
    const counter = (name: string, help: string): Counter<'model' | 'version'> => new Counter({ name, help, labelNames, registers: r });
    this.nv = {
      success: counter('nv_inference_request_success', 'Number of successful inference requests, all batch sizes (Triton family)'),
      failure: new Counter({ name: 'nv_inference_request_failure', help: 'Number of failed inference requests, all batch sizes, by reason (Triton family)', labelNames: ['model', 'version', 'reason'], registers: r }),
      count: counter('nv_inference_count', 'Number of inferences performed (a request with a batch of 8 counts 8; Triton family)'),
      requestUs: counter('nv_inference_request_duration_us', 'Cumulative inference request duration in microseconds, successes and failures (Triton family)'),
      queueUs: counter('nv_inference_queue_duration_us', 'Cumulative inference queuing duration in microseconds (Triton family)'),
      inputUs: counter('nv_inference_compute_input_duration_us', 'Cumulative compute input duration in microseconds (slackserve: copying the requests into the batch; Triton family)'),
      inferUs: counter('nv_inference_compute_infer_duration_us', 'Cumulative compute inference duration in microseconds (slackserve: all compute; Triton family)'),
      outputUs: counter('nv_inference_compute_output_duration_us', 'Cumulative inference compute output duration in microseconds (slackserve: building the reply after the batch; Triton family)'),
      pending: new Gauge({ name: 'nv_inference_pending_request_count', help: 'Instantaneous number of pending requests awaiting execution (Triton family)', labelNames, registers: r }),
    };
    const sourceOf = execCounts;
    const known = (): ModelStatsRecord[] => [...this.known.values()].map((k) => k.rec);
    new Counter({
      name: 'nv_inference_exec_count',
      help: 'Number of model executions (batches) performed by this process (Triton family)',
      labelNames,
      registers: r,
      async collect() {
        const counts = await sourceOf();
        this.reset();
        for (const rec of known()) this.inc({ model: rec.name, version: rec.version }, counts.get(rec.name) ?? 0);
      },
    });
  }

  /** Makes a model known (it is listed with zero counts before its first request). */
  declare(model: string, version: string): ModelStatsRecord {
    return this.lookup(model, version).rec;
  }

  private lookup(model: string, version: string): Known {
    const last = this.last;
    if (last !== undefined && last.model === model && last.version === version) return last;
    const key = `${model}\u0000${version}`;
    let found = this.known.get(key);
    if (!found) {
      const rec: ModelStatsRecord = { name: model, version, lastInference: 0, inferenceCount: 0, success: zero(), fail: zero(), queue: zero(), computeInput: zero(), computeInfer: zero(), computeOutput: zero() };
      found = { model, version, rec, nv: this.nv ? this.childrenOf(this.nv, model, version) : undefined };
      this.known.set(key, found);
    }
    this.last = found;
    return found;
  }

  private childrenOf(nv: NonNullable<ModelStats['nv']>, model: string, version: string): NvChildren {
    const v = [model, version];
    const children: NvChildren = {
      success: new FastCounterChild(nv.success, v),
      failure: new Map(FAILURE_REASONS.map((reason) => [reason, new FastCounterChild(nv.failure, [model, version, reason])])),
      count: new FastCounterChild(nv.count, v),
      requestUs: new FastCounterChild(nv.requestUs, v),
      queueUs: new FastCounterChild(nv.queueUs, v),
      inputUs: new FastCounterChild(nv.inputUs, v),
      inferUs: new FastCounterChild(nv.inferUs, v),
      outputUs: new FastCounterChild(nv.outputUs, v),
      pending: new FastGaugeChild(nv.pending, v),
    };
    // every family shows the model at 0 from the start (Triton lists loaded models)
    for (const c of [children.success, children.count, children.requestUs, children.queueUs, children.inputUs, children.inferUs, children.outputUs, ...children.failure.values()]) c.inc(0);
    children.pending.set(0);
    return children;
  }

  /** A request answered: its duration, the batch it carried, queue and compute time (us). */
  success(model: string, version: string, durationMs: number, batch: number, queueUs: number, computeUs: number, inputUs = 0, outputUs = 0): void {
    const { rec, nv } = this.lookup(model, version);
    const ns = Math.max(0, Math.round(durationMs * 1e6));
    rec.success.count++;
    rec.success.ns += ns;
    rec.queue.count++;
    rec.queue.ns += Math.max(0, Math.round(queueUs * 1000));
    // the worker's compute time includes the input copy; Triton's three parts add up to it plus the output
    const input = Math.max(0, Math.min(inputUs, computeUs));
    rec.computeInput.count++;
    rec.computeInput.ns += Math.round(input * 1000);
    rec.computeInfer.count++;
    rec.computeInfer.ns += Math.max(0, Math.round((computeUs - input) * 1000));
    rec.computeOutput.count++;
    rec.computeOutput.ns += Math.max(0, Math.round(outputUs * 1000));
    rec.inferenceCount += batch;
    rec.lastInference = this.clock();
    if (nv) {
      nv.success.inc();
      nv.count.inc(batch);
      nv.requestUs.inc(ns / 1000);
      nv.queueUs.inc(Math.max(0, queueUs));
      nv.inferUs.inc(Math.max(0, computeUs - input));
      nv.inputUs.inc(input);
      nv.outputUs.inc(Math.max(0, outputUs));
    }
  }

  /** A request failed (any reason, before or after the queue), `durationMs` after it arrived. */
  failure(model: string, version: string, reason: FailureReason, durationMs: number): void {
    const { rec, nv } = this.lookup(model, version);
    const ns = Math.max(0, Math.round(durationMs * 1e6));
    rec.fail.count++;
    rec.fail.ns += ns;
    if (nv) {
      nv.failure.get(reason)?.inc();
      nv.requestUs.inc(ns / 1000);
    }
  }

  /** Requests accepted and not yet answered. */
  pending(model: string, version: string, n: number): void {
    this.lookup(model, version).nv?.pending.set(n);
  }

  /** Triton's ModelStatistics for the matching models ('' matches any name or version). */
  async view(model = '', version = ''): Promise<ModelStatisticsView[]> {
    const execs = await this.execCounts();
    const out: ModelStatisticsView[] = [];
    for (const { rec: r } of this.known.values()) {
      if ((model !== '' && r.name !== model) || (version !== '' && r.version !== version)) continue;
      const copy = (d: StatDuration): StatDuration => ({ count: d.count, ns: d.ns });
      out.push({
        name: r.name,
        version: r.version,
        last_inference: r.lastInference,
        inference_count: r.inferenceCount,
        execution_count: execs.get(r.name) ?? 0,
        inference_stats: {
          success: copy(r.success),
          fail: copy(r.fail),
          queue: copy(r.queue),
          compute_input: copy(r.computeInput),
          compute_infer: copy(r.computeInfer),
          compute_output: copy(r.computeOutput),
          cache_hit: zero(),
          cache_miss: zero(),
        },
        batch_stats: [],
      });
    }
    return out;
  }
}

/** The failure reason Triton's `nv_inference_request_failure` would give an error code. */
export function failureReasonOf(code: string): FailureReason {
  switch (code) {
    case 'QUEUE_FULL':
    case 'DEADLINE_EXPIRED':
    case 'DEADLINE_EXCEEDED':
    case 'OVERLOADED':
      return 'REJECTED';
    case 'CANCELLED':
      return 'CANCELED';
    case 'BACKEND_UNAVAILABLE':
    case 'INTERNAL':
      return 'BACKEND';
    default:
      return 'OTHER';
  }
}
