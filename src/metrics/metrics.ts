/**
 * Prometheus metrics (prom-client), Triton-shaped families under our own prefix so Triton
 * dashboards translate, plus what no peer has: SLO outcomes by class, slack at completion, served
 * accuracy, subnet choice and queue depth. Histograms are in seconds (aggregatable). Label values
 * are bounded: reasons and outcomes are fixed sets, classes are capped (`maxClasses`, the rest
 * fold into "other"), subnets come from the manifest.
 *
 * One `Metrics` object per process; frontends record request outcomes, workers record executions.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { ModelStats } from './model-stats.js';
import { fastChild } from './fast-child.js';

export const PREFIX = 'slackserve';
export type FailureReason = 'REJECTED' | 'CANCELED' | 'BACKEND' | 'OTHER';
export type SloOutcome = 'met' | 'missed' | 'shed' | 'downgraded' | 'cancelled';

const LATENCY_BUCKETS = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.036, 0.05, 0.1, 0.2, 0.5, 1, 2, 5];
const SLACK_BUCKETS = [-0.1, -0.02, -0.005, 0, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.5];

export class Metrics {
  readonly registry = new Registry();
  private readonly classes = new Set<string>();
  private readonly children = new Map<object, Map<string, unknown>>();
  readonly requestSuccess: Counter<'model'>;
  readonly requestFailure: Counter<'model' | 'reason'>;
  readonly inferenceCount: Counter<'model'>;
  readonly execCount: Counter<'model' | 'subnet'>;
  readonly pending: Gauge<'model'>;
  readonly requestDuration: Histogram<'model'>;
  readonly queueDuration: Histogram<'model'>;
  readonly computeDuration: Histogram<'model'>;
  readonly replyDuration: Histogram<'model'>;
  readonly sloOutcome: Counter<'class' | 'outcome'>;
  readonly slack: Histogram<'class'>;
  readonly servedAccuracy: Histogram<'class'>;
  readonly subnetChoice: Counter<'subnet'>;
  readonly batchSize: Histogram<'subnet'>;
  readonly queueDepth: Gauge<'where'>;
  readonly exitChoice: Counter<'exit'>;
  /** Triton's per-model statistics and its `nv_*` families, in this registry. */
  readonly modelStats: ModelStats;

  constructor(
    readonly role: string,
    private readonly maxClasses = 16,
  ) {
    const r = [this.registry];
    this.registry.setDefaultLabels({ role });
    collectDefaultMetrics({ register: this.registry, prefix: `${PREFIX}_process_` });
    this.requestSuccess = new Counter({ name: `${PREFIX}_inference_request_success`, help: 'Successful inference requests (Triton nv_inference_request_success)', labelNames: ['model'], registers: r });
    this.requestFailure = new Counter({ name: `${PREFIX}_inference_request_failure`, help: 'Failed inference requests by reason (Triton nv_inference_request_failure)', labelNames: ['model', 'reason'], registers: r });
    this.inferenceCount = new Counter({ name: `${PREFIX}_inference_count`, help: 'Inferences performed (one per image; Triton nv_inference_count)', labelNames: ['model'], registers: r });
    this.execCount = new Counter({ name: `${PREFIX}_inference_exec_count`, help: 'Batch executions (Triton nv_inference_exec_count)', labelNames: ['model', 'subnet'], registers: r });
    this.pending = new Gauge({ name: `${PREFIX}_inference_pending_request_count`, help: 'Requests accepted and not yet answered (Triton nv_inference_pending_request_count)', labelNames: ['model'], registers: r });
    this.requestDuration = new Histogram({ name: `${PREFIX}_request_duration_seconds`, help: 'End-to-end request duration at the frontend', labelNames: ['model'], buckets: LATENCY_BUCKETS, registers: r });
    this.queueDuration = new Histogram({ name: `${PREFIX}_queue_duration_seconds`, help: 'Time from acceptance to the start of the batch that served the request', labelNames: ['model'], buckets: LATENCY_BUCKETS, registers: r });
    this.computeDuration = new Histogram({ name: `${PREFIX}_compute_duration_seconds`, help: 'Batch compute time (onnxruntime, worker thread hop included)', labelNames: ['model'], buckets: LATENCY_BUCKETS, registers: r });
    this.replyDuration = new Histogram({
      name: `${PREFIX}_reply_duration_seconds`,
      help: 'From the end of the batch to the answer at the frontend (the reply path inside the server: queue hop back, routing)',
      labelNames: ['model'],
      buckets: LATENCY_BUCKETS,
      registers: r,
    });
    this.sloOutcome = new Counter({ name: `${PREFIX}_slo_outcome_total`, help: 'Requests by SLO class and outcome (met|missed|shed|downgraded|cancelled)', labelNames: ['class', 'outcome'], registers: r });
    this.slack = new Histogram({ name: `${PREFIX}_slack_seconds`, help: 'Deadline minus completion time (negative = late)', labelNames: ['class'], buckets: SLACK_BUCKETS, registers: r });
    this.servedAccuracy = new Histogram({ name: `${PREFIX}_served_accuracy`, help: 'Measured top-1 accuracy of the subnet that served each request', labelNames: ['class'], buckets: [0.8, 0.85, 0.87, 0.88, 0.89, 0.9, 0.91, 0.92, 0.93, 0.95, 1], registers: r });
    this.subnetChoice = new Counter({ name: `${PREFIX}_subnet_choice_total`, help: 'Requests served per subnet', labelNames: ['subnet'], registers: r });
    this.batchSize = new Histogram({ name: `${PREFIX}_batch_size`, help: 'Images per executed batch', labelNames: ['subnet'], buckets: [1, 2, 4, 8, 16, 32, 64, 128], registers: r });
    this.queueDepth = new Gauge({ name: `${PREFIX}_queue_depth`, help: 'Requests waiting: in the shared queue (where="shared") or in this worker\'s local EDF queue (where="local")', labelNames: ['where'], registers: r });
    this.exitChoice = new Counter({ name: `${PREFIX}_exit_choice_total`, help: 'Answers by exit (ramp stage id, or "final")', labelNames: ['exit'], registers: r });
    const execCount = this.execCount;
    this.modelStats = new ModelStats(this.registry, async () => {
      const byModel = new Map<string, number>();
      for (const v of (await execCount.get()).values) {
        const model = String(v.labels['model'] ?? '');
        byModel.set(model, (byModel.get(model) ?? 0) + v.value);
      }
      return byModel;
    });
  }

  /**
   * The gRPC edge's connections held to fewer streams for flooding its door (src/api/shed-streams.ts),
   * read at scrape time: how many now, and how many times so far.
   */
  observeStreamShedding(read: () => { readonly reduced: number; readonly reductions: number }): void {
    const gauges: [string, string, (v: ReturnType<typeof read>) => number][] = [
      ['edge_connections_stream_limited', 'gRPC connections held to grpcSheddingStreams now, for flooding the refusing door', (v) => v.reduced],
      ['edge_stream_limit_reductions', 'Times a gRPC connection was held to grpcSheddingStreams for flooding the refusing door (cumulative)', (v) => v.reductions],
    ];
    for (const [name, help, pick] of gauges)
      new Gauge({
        name: `${PREFIX}_${name}`,
        help,
        registers: [this.registry],
        collect() {
          this.set(pick(read()));
        },
      });
  }

  /**
   * The early-exit loops' state per subnet, read at scrape time (bounded: served subnets x their
   * stages). `snapshot` is ExitManager.snapshot.
   */
  observeExits(snapshot: () => readonly { subnet: string; thresholds: Readonly<Record<string, number>>; active: readonly string[]; windowAccuracy: number; violations: number; deadlineAnswers: number; feedback: number }[]): void {
    const r = [this.registry];
    new Gauge({
      name: `${PREFIX}_exit_threshold`,
      help: 'Early-exit threshold tau on 1 - max softmax per ramp (0 = never exits)',
      labelNames: ['subnet', 'stage'],
      registers: r,
      collect() {
        for (const s of snapshot()) for (const [stage, tau] of Object.entries(s.thresholds)) this.set({ subnet: s.subnet, stage }, tau);
      },
    });
    new Gauge({
      name: `${PREFIX}_exit_ramp_active`,
      help: 'Ramps the slow loop keeps active (1) or not (0)',
      labelNames: ['subnet', 'stage'],
      registers: r,
      collect() {
        for (const s of snapshot()) for (const stage of Object.keys(s.thresholds)) this.set({ subnet: s.subnet, stage }, s.active.includes(stage) ? 1 : 0);
      },
    });
    const perSubnet = (name: string, help: string, pick: (s: ReturnType<typeof snapshot>[number]) => number): void => {
      new Gauge({
        name: `${PREFIX}_${name}`,
        help,
        labelNames: ['subnet'],
        registers: r,
        collect() {
          for (const s of snapshot()) this.set({ subnet: s.subnet }, pick(s));
        },
      });
    };
    perSubnet('exit_window_accuracy', 'Agreement of the exit policy with the final output on the feedback window', (s) => s.windowAccuracy);
    perSubnet('exit_violations', 'Feedback batches that violated the accuracy budget', (s) => s.violations);
    perSubnet('exit_deadline_answers', 'Deadline answers given (best exit seen at the deadline)', (s) => s.deadlineAnswers);
    perSubnet('exit_feedback_samples', 'Inputs fed back to the exit loops', (s) => s.feedback);
  }

  /**
   * The child of `metric` for these label values (in labelNames order), cached, and a fast one
   * (`fast-child.ts`): prom-client's own child hashes and validates its labels on every call,
   * which the request path paid per request.
   */
  of<M extends Counter<string> | Gauge<string> | Histogram<string>>(metric: M, ...values: string[]): ReturnType<M['labels']> {
    let byValues = this.children.get(metric);
    if (!byValues) this.children.set(metric, (byValues = new Map()));
    const key = values.length === 1 ? (values[0] as string) : values.join('\u0000');
    let child = byValues.get(key);
    if (!child) byValues.set(key, (child = fastChild(metric, values)));
    return child as ReturnType<M['labels']>;
  }

  /** Bounded class label: the first `maxClasses` distinct classes keep their name. */
  classLabel(c: string): string {
    if (this.classes.has(c)) return c;
    if (this.classes.size < this.maxClasses) {
      this.classes.add(c);
      return c;
    }
    return 'other';
  }

  async text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
