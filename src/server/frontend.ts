/**
 * The frontend: the `InferenceBackend` behind the gRPC and HTTP edges. It admits a request
 * (admission: reject or downgrade what no eligible subnet can serve in time), puts it on the shared
 * request queue, and completes the client's call when a worker's reply comes back on this
 * frontend's reply channel. It owns the map of calls in flight; nothing else does.
 */
import { buildModelConfig, type ModelConfigExtras, type TritonModelConfig } from '../api/model-config.js';
import { modelMetadataFromManifest } from '../api/tensors.js';
import type { InferAnswer, InferContext, InferenceBackend, DecodedInfer, ModelMetadata, RepositoryModel, ServerMetadata } from '../api/types.js';
import { asSlackserveError, SlackserveError } from '../errors.js';
import type { Metrics, SloOutcome } from '../metrics/metrics.js';
import { failureReasonOf, ModelStats, type ModelStatisticsView } from '../metrics/model-stats.js';
import type { InferenceReply, QueuedInference, RequestQueue } from '../queue/types.js';
import { admit, type AdmissionMode } from '../scheduler/admission.js';
import type { LatencyTable } from '../scheduler/latency-table.js';
import type { Catalogue } from '../supernet/catalogue.js';
import type { OutcomeEvent } from '../metrics/outcome-event.js';
import { deadlineOutcome } from './deadline-outcome.js';
import { answerOf, SERVER_EXTENSIONS } from './frontend-info.js';
import { admissionLoad, Backlog, type AdmissionLoad } from './backlog.js';

export type { OutcomeEvent } from '../metrics/outcome-event.js';
export { minConfidence, SERVER_EXTENSIONS } from './frontend-info.js';

export interface FrontendOptions {
  readonly id: string;
  readonly queue: RequestQueue;
  readonly catalogue: Catalogue;
  readonly table: LatencyTable;
  readonly admission: AdmissionMode;
  readonly dispatchOverheadMs: number;
  /** Executors serving the queue, for the admission estimate (all workers' threads). */
  readonly executors: number;
  readonly maxBatch: number;
  /** How long past its deadline a call waits for a worker before failing (covers reclaim after a worker death). */
  readonly graceMs: number;
  /** The worker's deadline is the client's minus this (time to send the answer back). */
  readonly edgeMarginMs: number;
  readonly clock: () => number;
  readonly version: string;
  readonly metrics?: Metrics;
  /** Liveness of the workers this process runs itself (serve mode); undefined for a pure frontend. */
  readonly localReady?: () => boolean;
  /** Log of the frontend's own events (reply subscription retries). */
  readonly log?: (line: string) => void;
  /** What Triton's ModelConfig says beyond the metadata (default: no instances, no parameters). */
  readonly modelConfig?: ModelConfigExtras;
}

interface Call {
  readonly req: DecodedInfer;
  readonly sloClass: string;
  readonly resolve: (a: InferAnswer) => void;
  readonly reject: (e: Error) => void;
  readonly onEarly: ((a: InferAnswer) => void) | undefined;
  readonly started: number;
  /** The deadline the worker enforces (the client's minus the edge margin). */
  readonly workerDeadline: number;
  /** Epoch ms after which the sweep fails the call (deadline + grace). */
  readonly expires: number;
  cleanup: () => void;
  /** What was put on the queue: kept so a request the backend lost can be put there again. */
  queued: QueuedInference | undefined;
  /** How many times it was put there again (LOST_REQUEUE_MAX at most). */
  requeues: number;
}

/** A request the queue backend lost (failover, restart) is enqueued again at most this often. */
const LOST_REQUEUE_MAX = 2;

/** How often calls past deadline + grace are failed (their precision; grace is seconds). */
const SWEEP_EVERY_MS = 100;

export class Frontend implements InferenceBackend {
  private readonly calls = new Map<string, Call>();
  private readonly outcomeListeners = new Set<(e: OutcomeEvent) => void>();
  private seq = 0;
  private depth = 0;
  private depthTimer: NodeJS.Timeout | null = null;
  private sweepTimer: NodeJS.Timeout | null = null;
  private unsubscribe: (() => Promise<void>) | null = null;
  private offLost: (() => void) | undefined;
  private offReachability: (() => void)[] = [];
  private stopped = false;
  /** Readiness is off and (after the drain delay) new calls are refused: see drain(). */
  private drainingState: 'no' | 'not-ready' | 'refusing' = 'no';
  private readonly idleWaiters = new Set<() => void>();
  private readonly meta: ModelMetadata;
  private readonly accuracy: Map<string, number>;
  private readonly stats: ModelStats;
  private readonly config: TritonModelConfig;
  private readonly backlog: Backlog;

  constructor(private readonly o: FrontendOptions) {
    this.accuracy = new Map(o.table.subnets.map((s) => [s.id, s.accuracy]));
    this.backlog = new Backlog({ saturatedAt: o.executors });
    this.meta = modelMetadataFromManifest(o.catalogue.manifest, { maxBatch: o.maxBatch, versions: [o.version] });
    this.stats = o.metrics?.modelStats ?? new ModelStats(undefined);
    this.stats.declare(this.meta.name, o.version);
    this.config = buildModelConfig(this.meta, o.modelConfig ?? { instances: 0, maxQueueSize: 0, defaultTimeoutUs: 0, parameters: {} });
  }

  /**
   * Starts listening for replies. With the backend unreachable it does not fail: it keeps
   * retrying in the background (100 ms doubling to 5 s, sooner once the backend is back) and the
   * frontend stays not-ready (and refuses calls) until it listens.
   */
  async start(): Promise<void> {
    this.offLost = this.o.queue.onLost?.((ids, cause) => this.requeueLost(ids, cause));
    // an outage stops answers without the workers being slow: admission must not learn a rate from it
    const down = this.o.queue.onBackendDown?.(() => this.backlog.interrupted(this.o.clock()));
    const up = this.o.queue.onBackendUp?.(() => this.backlog.resumed(this.o.clock()));
    this.offReachability = [down, up].filter((f): f is () => void => f !== undefined);
    const first = await this.subscribe().then(
      () => true,
      () => false,
    );
    if (!first) void this.subscribeUntilDone();
    // admission needs the queue's state; one read every 20 ms instead of one per request
    const poll = async (): Promise<void> => {
      const [depth, outstanding] = await Promise.all([this.o.queue.depth().catch(() => this.depth), this.o.queue.outstanding?.().catch(() => undefined)]);
      this.depth = depth;
      this.backlog.polled(outstanding ?? depth);
      this.o.metrics?.queueDepth.set({ where: 'shared' }, this.depth);
    };
    await poll();
    this.depthTimer = setInterval(() => void poll(), 20);
    this.depthTimer.unref();
    this.sweepTimer = setInterval(() => this.sweep(), SWEEP_EVERY_MS);
    this.sweepTimer.unref();
  }

  private async subscribe(): Promise<void> {
    this.unsubscribe = await this.o.queue.subscribeReplies(this.o.id, (r) => this.onReply(r));
  }

  private async subscribeUntilDone(): Promise<void> {
    let wake: (() => void) | undefined;
    const off = this.o.queue.onBackendUp?.(() => wake?.());
    let delay = 100;
    try {
      while (!this.stopped && !this.unsubscribe) {
        await new Promise<void>((res) => {
          const t = setTimeout(res, delay);
          t.unref();
          wake = () => {
            clearTimeout(t);
            res();
          };
        });
        wake = undefined;
        if (this.stopped) return;
        try {
          await this.subscribe();
          this.o.log?.('frontend: listening for replies');
        } catch {
          delay = Math.min(5_000, delay * 2); // the queue logs the backend's state changes
        }
      }
    } finally {
      off?.();
    }
  }

  /** Listening for replies: calls can be answered. */
  get listening(): boolean {
    return this.unsubscribe !== null;
  }

  /**
   * Draining, step 1 (`refuse` false): readiness turns false, calls are still served. Step 2
   * (`refuse` true): new calls are refused with UNAVAILABLE "server is draining".
   */
  drain(refuse: boolean): void {
    if (refuse) this.drainingState = 'refusing';
    else if (this.drainingState === 'no') this.drainingState = 'not-ready';
  }

  /** True once drain(true) was called: the edges refuse new calls. */
  get refusing(): boolean {
    return this.drainingState === 'refusing';
  }

  /** Resolves once no call is in flight, or after `timeoutMs`; true if none is left. */
  async waitIdle(timeoutMs: number): Promise<boolean> {
    if (this.calls.size === 0) return true;
    let timer: NodeJS.Timeout | undefined;
    let waiter: (() => void) | undefined;
    await Promise.race([
      new Promise<void>((res) => {
        waiter = res;
        this.idleWaiters.add(res);
      }),
      new Promise<void>((res) => (timer = setTimeout(res, timeoutMs))),
    ]);
    clearTimeout(timer);
    if (waiter) this.idleWaiters.delete(waiter);
    return this.calls.size === 0;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.offLost?.();
    for (const off of this.offReachability) off();
    if (this.depthTimer) clearInterval(this.depthTimer);
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    for (const [id, c] of this.calls) this.finish(id, c, new SlackserveError('BACKEND_UNAVAILABLE', 'the server is shutting down'));
    await this.unsubscribe?.();
  }

  /** Every finished call is reported here (returns the unsubscribe function). */
  onOutcome(listener: (e: OutcomeEvent) => void): () => void {
    this.outcomeListeners.add(listener);
    return () => this.outcomeListeners.delete(listener);
  }

  private emit(e: OutcomeEvent): void {
    for (const l of this.outcomeListeners) {
      try {
        l(e);
      } catch {
        // a failing live view must not fail the call it reports on
      }
    }
  }

  /** The shared queue depth as last polled. */
  get queueDepth(): number {
    return this.depth;
  }

  get inFlight(): number {
    return this.calls.size;
  }

  live(): boolean {
    return true;
  }

  /**
   * Ready: not draining, listening for replies, the queue backend reachable, and someone to
   * serve: this process's own worker (serve) or, for a frontend alone, a worker heartbeat seen
   * within the last TTL (queue.workersAlive, cached so probes do not hammer Redis).
   */
  async ready(): Promise<boolean> {
    if (this.drainingState !== 'no' || !this.listening) return false;
    if (this.o.localReady) return this.o.localReady() && (await this.o.queue.ready());
    if (!(await this.o.queue.ready())) return false;
    return (await this.o.queue.workersAlive?.()) ?? true;
  }

  async modelReady(name: string, version: string): Promise<boolean> {
    return name === this.meta.name && (version === '' || version === this.o.version) && this.ready();
  }

  serverMetadata(): ServerMetadata {
    return { name: 'slackserve', version: '0.1.0', extensions: [...SERVER_EXTENSIONS] };
  }

  modelConfig(name: string, version: string): TritonModelConfig {
    this.modelMetadata(name, version);
    return this.config;
  }

  async modelStatistics(name: string, version: string): Promise<readonly ModelStatisticsView[]> {
    if (name !== '') this.modelMetadata(name, version);
    return this.stats.view(name, version === '' ? '' : version);
  }

  async repositoryIndex(readyOnly: boolean): Promise<readonly RepositoryModel[]> {
    const ready = await this.ready().catch(() => false);
    if (readyOnly && !ready) return [];
    return [{ name: this.meta.name, version: this.o.version, state: ready ? 'READY' : 'UNAVAILABLE', reason: ready ? '' : 'not ready (queue backend unreachable, no worker, or draining)' }];
  }

  recordEdgeFailure(model: string, version: string, err: unknown, arrivalMs: number): void {
    // label values stay bounded: a name this server does not serve is counted under ''
    const known = model === this.meta.name && (version === '' || version === this.o.version);
    const code = err instanceof SlackserveError ? err.code : 'INTERNAL';
    this.stats.failure(known ? model : '', known ? this.o.version : '', failureReasonOf(code), Math.max(0, this.o.clock() - arrivalMs));
    const m = this.o.metrics;
    m?.of(m.requestFailure, known ? model : '', failureReasonOf(code)).inc();
  }

  modelMetadata(name: string, version: string): ModelMetadata {
    if (name !== this.meta.name) throw new SlackserveError('MODEL_UNKNOWN', `unknown model "${name}" (this server serves "${this.meta.name}")`);
    if (version !== '' && version !== this.o.version) throw new SlackserveError('MODEL_UNKNOWN', `model "${name}" has no version "${version}" (have: ${this.o.version})`);
    return this.meta;
  }

  /**
   * Admits, enqueues and returns the call's answer. Not `async` on purpose: the answer promise is
   * handed to the caller at once, so it always has an owner, whatever happens to the enqueue (a
   * client that cancels while the request is being written to Redis rejects it early; before,
   * that rejection had no handler yet and ended the process).
   */
  infer(req: DecodedInfer, ctx: InferContext): Promise<InferAnswer> {
    try {
      return this.admitAndEnqueue(req, ctx);
    } catch (e) {
      // refused before the queue (draining, not listening, unknown model): a failure to count;
      // the admission reject counted itself
      if (!(e instanceof SlackserveError && e.details['admission'] === 'reject')) this.recordEdgeFailure(req.model, req.version, e, req.slo.arrivalMs);
      return Promise.reject(e instanceof Error ? e : asSlackserveError(e));
    }
  }

  private admitAndEnqueue(req: DecodedInfer, ctx: InferContext): Promise<InferAnswer> {
    if (this.drainingState === 'refusing') throw new SlackserveError('BACKEND_UNAVAILABLE', 'server is draining');
    this.modelMetadata(req.model, req.version);
    // not listening yet (the backend was unreachable at startup): no answer could reach us
    if (!this.listening) throw new SlackserveError('BACKEND_UNAVAILABLE', 'queue backend unavailable (not connected yet)');
    const m = this.o.metrics;
    const sloClass = m?.classLabel(req.slo.sloClass) ?? req.slo.sloClass;
    const now = this.o.clock();
    // the answer must still travel back after the worker finishes
    const workerDeadline = req.slo.deadlineMs - Math.min(this.o.edgeMarginMs, req.slo.budgetMs / 4);
    const images = req.tensor.batch;
    const load = this.admissionLoad(now, images, req.slo.minAccuracy);
    const verdict = admit(this.o.table, this.o.admission, {
      now,
      deadline: workerDeadline,
      minAccuracy: req.slo.minAccuracy,
      queuedAhead: load.queuedAhead,
      workers: this.o.executors,
      soonestFree: now,
      dispatchOverheadMs: this.o.dispatchOverheadMs,
    });
    if (verdict === 'reject') {
      m?.of(m.requestFailure, req.model, 'REJECTED').inc();
      this.stats.failure(req.model, this.o.version, 'REJECTED', now - req.slo.arrivalMs);
      m?.of(m.sloOutcome, sloClass, 'shed').inc();
      this.emit({ ok: false, code: 'DEADLINE_EXPIRED', sloClass, met: false, shed: true, downgraded: false, subnet: null, exit: null, accuracy: null, latencyMs: 0, budgetMs: req.slo.budgetMs });
      const rate = load.drainPerMs === undefined ? '' : `, answered at ~${Math.round(load.drainPerMs * 1000)} images/s`;
      const late = now - workerDeadline;
      const why =
        req.slo.minAccuracy > 0 && this.o.table.fastest(1, req.slo.minAccuracy) === null
          ? `no subnet reaches min_accuracy ${req.slo.minAccuracy}`
          : late >= 0
            ? `its deadline passed ${late.toFixed(0)} ms before admission: the server is overloaded`
            : `${Math.round(load.imagesAhead)} images queued ahead${rate}`;
      throw new SlackserveError(
        'DEADLINE_EXPIRED',
        `Request timeout expired: shed at admission: no eligible subnet can answer within ${Math.max(0, req.slo.deadlineMs - now).toFixed(1)} ms (${why}); rejected at admission`,
        { admission: 'reject', shed: true },
      );
    }
    const id = `${this.o.id}:${this.seq++}`;
    const downgraded = verdict === 'downgrade';
    let call!: Call;
    const answer = new Promise<InferAnswer>((resolve, reject) => {
      // a worker that died holding the request is reclaimed by another, which answers; the sweep
      // only bounds the wait if every worker is gone
      call = { req, sloClass, resolve, reject, onEarly: ctx.onEarly, started: now, workerDeadline, expires: req.slo.deadlineMs + this.o.graceMs, cleanup: () => undefined, queued: undefined, requeues: 0 };
    });
    this.calls.set(id, call);
    this.backlog.admitted(images);
    m?.of(m.pending, req.model).set(this.calls.size);
    this.stats.pending(req.model, this.o.version, this.calls.size);
    if (ctx.cancel.cancelled) {
      this.finish(id, call, new SlackserveError('CANCELLED', 'the client cancelled the request'));
      return answer;
    }
    const onAbort = (): void => {
      // a cancel that fails (Redis gone) leaves the entry to be dropped when it expires
      this.o.queue.cancel(id).catch(() => undefined);
      this.finish(id, call, new SlackserveError('CANCELLED', 'the client cancelled the request'));
    };
    ctx.cancel.onCancel(onAbort);
    call.cleanup = () => ctx.cancel.onCancel(null);
    call.queued = {
      id,
      frontend: this.o.id,
      model: req.model,
      arrivalMs: req.slo.arrivalMs,
      deadlineMs: workerDeadline,
      minAccuracy: downgraded ? 0 : req.slo.minAccuracy,
      priority: req.slo.priority,
      sheddable: req.slo.sheddable,
      sloClass: req.slo.sloClass,
      downgraded,
      shape: req.tensor.shape,
      data: req.tensor.bytes,
      ...(ctx.onEarly ? { stream: true } : {}),
    };
    this.o.queue.enqueue(call.queued).catch((e: unknown) => this.finish(id, call, asSlackserveError(e)));
    return answer;
  }

  /**
   * The queue backend lost these accepted requests (Redis restarted without them, or a failover
   * promoted a replica that never received them; redis-reachability.ts checkRestart). This frontend
   * still holds each one, so it puts it on the queue again while its deadline allows; a worker
   * that already ran the first copy may answer too, and the second answer is dropped (route()).
   */
  private requeueLost(ids: readonly string[], cause: string): void {
    const now = this.o.clock();
    let requeued = 0;
    let failed = 0;
    for (const id of ids) {
      const c = this.calls.get(id);
      if (!c) continue;
      if (this.stopped || c.queued === undefined || c.requeues >= LOST_REQUEUE_MAX || c.workerDeadline <= now) {
        failed++;
        this.finish(id, c, new SlackserveError('BACKEND_UNAVAILABLE', `queue backend lost the request (${cause})`));
        continue;
      }
      c.requeues++;
      requeued++;
      this.o.queue.enqueue(c.queued).catch((e: unknown) => this.finish(id, c, asSlackserveError(e)));
    }
    if (requeued > 0) this.o.log?.(`frontend: queued ${requeued} request(s) again that the queue backend lost (${cause})`);
    if (failed > 0) this.o.log?.(`frontend: failed ${failed} request(s) the queue backend lost (${cause}): past their deadline or queued again twice already`);
  }

  /** admit()'s inputs for a request of `images` (backlog.ts). */
  private admissionLoad(now: number, images: number, minAccuracy: number): AdmissionLoad {
    return admissionLoad(this.backlog, this.o.table, this.o.executors, now, images, minAccuracy);
  }

  /** Fails the calls no worker answered in time (all workers gone): one timer for every call. */
  private sweep(): void {
    const now = this.o.clock();
    const expired: string[] = [];
    for (const [id, c] of this.calls) {
      if (c.expires > now) continue;
      expired.push(id);
      this.finish(id, c, new SlackserveError('DEADLINE_EXPIRED', 'Request timeout expired: no worker answered'));
    }
    // one line per sweep: an operator learns that answers went missing, and which (at most 5 ids)
    if (expired.length > 0) this.o.log?.(`frontend: ${expired.length} request(s) got no answer within deadline + grace (${this.o.graceMs} ms): ${expired.slice(0, 5).join(', ')}${expired.length > 5 ? ', ...' : ''}`);
  }

  private finish(id: string, c: Call, result: InferAnswer | Error): void {
    if (this.calls.get(id) !== c) return;
    const outcome = result instanceof SlackserveError ? deadlineOutcome(result, c.req.slo, c.workerDeadline, this.o.clock()) : result;
    this.calls.delete(id);
    this.backlog.finished(c.req.tensor.batch, !(outcome instanceof Error), this.o.clock());
    c.cleanup();
    if (this.calls.size === 0) for (const w of [...this.idleWaiters]) w();
    const m = this.o.metrics;
    const model = c.req.model;
    m?.of(m.pending, model).set(this.calls.size);
    this.stats.pending(model, this.o.version, this.calls.size);
    if (outcome instanceof Error) {
      const code = outcome instanceof SlackserveError ? outcome.code : 'INTERNAL';
      m?.of(m.requestFailure, model, failureReasonOf(code)).inc();
      this.stats.failure(model, this.o.version, failureReasonOf(code), this.o.clock() - c.req.slo.arrivalMs);
      const shed = code === 'DEADLINE_EXPIRED' || code === 'QUEUE_FULL';
      m?.of(m.sloOutcome, c.sloClass, code === 'CANCELLED' ? 'cancelled' : shed ? 'shed' : 'missed').inc();
      this.emit({ ok: false, code, sloClass: c.sloClass, met: false, shed, downgraded: false, subnet: null, exit: null, accuracy: null, latencyMs: this.o.clock() - c.started, budgetMs: c.req.slo.budgetMs });
      c.reject(outcome);
      return;
    }
    const done = this.o.clock();
    m?.of(m.requestSuccess, model).inc();
    this.stats.success(model, this.o.version, done - c.req.slo.arrivalMs, c.req.tensor.batch, outcome.servedBy.queueUs, outcome.servedBy.computeUs, outcome.servedBy.inputUs ?? 0, outcome.servedBy.outputUs ?? 0);
    m?.of(m.requestDuration, model).observe((done - c.started) / 1000);
    const sb = outcome.servedBy;
    // met as the client sees it: answered by the client's deadline (the worker's own verdict is
    // against its earlier deadline and knows nothing of the reply path)
    const met = done <= c.req.slo.deadlineMs;
    const outcomeLabel: SloOutcome = sb.downgraded ? 'downgraded' : met ? 'met' : 'missed';
    m?.of(m.sloOutcome, c.sloClass, outcomeLabel).inc();
    m?.of(m.slack, c.sloClass).observe((c.req.slo.deadlineMs - done) / 1000);
    const acc = this.accuracy.get(sb.subnet);
    if (acc !== undefined) m?.of(m.servedAccuracy, c.sloClass).observe(acc);
    m?.of(m.subnetChoice, sb.subnet).inc();
    m?.of(m.exitChoice, sb.exit).inc();
    this.emit({ ok: true, code: null, sloClass: c.sloClass, met, shed: false, downgraded: sb.downgraded, subnet: sb.subnet, exit: sb.exit, accuracy: acc ?? null, latencyMs: done - c.started, budgetMs: c.req.slo.budgetMs, deadlineAnswer: sb.deadlineAnswer === true });
    // time outside the queue and the executor: from the batch's end to the answer here (the reply
    // path inside the server), exported so the policy's edge margin can be checked against it
    if (sb.serverUs !== undefined) m?.of(m.replyDuration, model).observe(Math.max(0, sb.serverUs - sb.queueUs - sb.computeUs) / 1e6);
    c.resolve(outcome);
  }

  /** Called by the queue's subscription: a bad reply fails its own call, never the subscription. */
  private onReply(r: InferenceReply): void {
    try {
      this.route(r);
    } catch (e) {
      const c = this.calls.get(r.id);
      if (c) this.finish(r.id, c, asSlackserveError(e));
    }
  }

  private route(r: InferenceReply): void {
    const c = this.calls.get(r.id);
    if (!c) return; // answered already (duplicate after a reclaim), cancelled, or timed out
    if (!r.ok) {
      this.finish(r.id, c, new SlackserveError(r.code, r.message));
      return;
    }
    // the answer is final here (route -> finish): its arrival-to-answer time is known now
    const answer = answerOf(r, c.req.tensor.batch, r.final ? Math.round((this.o.clock() - c.req.slo.arrivalMs) * 1000) : undefined);
    if (!r.final) {
      c.onEarly?.(answer);
      return;
    }
    this.finish(r.id, c, answer);
  }
}
