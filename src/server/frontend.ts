/**
 * The frontend: the `InferenceBackend` behind the gRPC and HTTP edges. It admits a request
 * (admission: reject or downgrade what no eligible subnet can serve in time), puts it on the shared
 * request queue, and completes the client's call when a worker's reply comes back on this
 * frontend's reply channel. It owns the map of calls in flight; nothing else does. Beside the call
 * path: the reply subscription and depth poll (queue-link.ts), what an ended call records
 * (call-outcomes.ts), Triton's model information (model-info.ts), the admission refusal's message.
 */
import type { ModelConfigExtras, TritonModelConfig } from '../api/model-config.js';
import type { InferAnswer, InferContext, InferenceBackend, DecodedInfer, ModelMetadata, RepositoryModel, ServerMetadata } from '../api/types.js';
import { asSlackserveError, SlackserveError } from '../errors.js';
import type { Metrics } from '../metrics/metrics.js';
import type { ModelStatisticsView } from '../metrics/model-stats.js';
import type { InferenceReply, QueuedInference, RequestQueue } from '../queue/types.js';
import { admit, type AdmissionMode } from '../scheduler/admission.js';
import type { LatencyTable } from '../scheduler/latency-table.js';
import type { Catalogue } from '../supernet/catalogue.js';
import type { OutcomeEvent } from '../metrics/outcome-event.js';
import { admissionRefusal } from './admission-refusal.js';
import { admissionLoad, Backlog } from './backlog.js';
import { CallOutcomes } from './call-outcomes.js';
import { deadlineOutcome } from './deadline-outcome.js';
import { answerOf } from './frontend-info.js';
import { ModelInfo } from './model-info.js';
import { QueueLink } from './queue-link.js';
import { ReplyMargin, replyPathMs } from './reply-margin.js';

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
  /**
   * Plan with this quantile of the measured reply path of the last second's answers when it is
   * above `edgeMarginMs` (reply-margin.ts); 0 or absent: the fixed margin alone.
   */
  readonly edgeMarginQuantile?: number;
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
  private seq = 0;
  private sweepTimer: NodeJS.Timeout | null = null;
  private stopped = false;
  /** Readiness is off and (after the drain delay) new calls are refused: see drain(). */
  private drainingState: 'no' | 'not-ready' | 'refusing' = 'no';
  private readonly idleWaiters = new Set<() => void>();
  /** The served model and Triton's information endpoints (model-info.ts). */
  private readonly info: ModelInfo;
  /** Metrics, statistics and live events of ended calls (call-outcomes.ts). */
  private readonly outcomes: CallOutcomes;
  private readonly backlog: Backlog;
  /** The edge margin from the reply path measured on recent answers (reply-margin.ts). */
  private readonly replyMargin: ReplyMargin;
  private readonly msPerImage: Map<string, number>;
  /** The reply subscription, the depth poll, the backend's notices (queue-link.ts). */
  private readonly link: QueueLink;

  constructor(private readonly o: FrontendOptions) {
    const accuracy = new Map(o.table.subnets.map((s) => [s.id, s.accuracy]));
    this.backlog = new Backlog({ saturatedAt: o.executors });
    this.replyMargin = new ReplyMargin({ quantile: o.edgeMarginQuantile ?? 0, windowMs: 1000, floorMs: o.edgeMarginMs });
    // each subnet's profiled executor ms per image at the largest batch (the backlog's efficiency)
    const B = o.table.maxBatch;
    this.msPerImage = new Map(o.table.subnets.map((s) => [s.id, o.table.ms(s.index, B) / B]));
    this.info = new ModelInfo(o);
    this.outcomes = new CallOutcomes({ version: o.version, stats: this.info.stats, accuracy, clock: o.clock, metrics: o.metrics });
    this.link = new QueueLink({ ...o, backlog: this.backlog, onReply: (r) => this.onReply(r), onLost: (ids, cause) => this.requeueLost(ids, cause) });
  }

  /** Starts listening for replies (retried while the backend is unreachable: queue-link.ts) and the sweep. */
  async start(): Promise<void> {
    await this.link.start();
    this.sweepTimer = setInterval(() => this.sweep(), SWEEP_EVERY_MS);
    this.sweepTimer.unref();
  }

  /** Listening for replies: calls can be answered. */
  get listening(): boolean {
    return this.link.listening;
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
    this.link.detach();
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    for (const [id, c] of this.calls) this.finish(id, c, new SlackserveError('BACKEND_UNAVAILABLE', 'the server is shutting down'));
    await this.link.close();
  }

  /** Every finished call is reported here (returns the unsubscribe function). */
  onOutcome(listener: (e: OutcomeEvent) => void): () => void {
    return this.outcomes.onOutcome(listener);
  }

  /** The shared queue depth as last polled. */
  get queueDepth(): number {
    return this.link.depth;
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
    return this.info.serves(name, version) && this.ready();
  }

  // Triton's information endpoints: model-info.ts answers them
  serverMetadata(): ServerMetadata {
    return this.info.serverMetadata();
  }

  modelMetadata(name: string, version: string): ModelMetadata {
    return this.info.modelMetadata(name, version);
  }

  modelConfig(name: string, version: string): TritonModelConfig {
    return this.info.modelConfig(name, version);
  }

  modelStatistics(name: string, version: string): Promise<readonly ModelStatisticsView[]> {
    return this.info.modelStatistics(name, version);
  }

  repositoryIndex(readyOnly: boolean): Promise<readonly RepositoryModel[]> {
    return this.info.repositoryIndex(readyOnly, () => this.ready());
  }

  recordEdgeFailure(model: string, version: string, err: unknown, arrivalMs: number): void {
    // label values stay bounded: a name this server does not serve is counted under ''
    const known = this.info.serves(model, version);
    this.outcomes.edgeFailure(known ? model : '', known ? this.o.version : '', err, arrivalMs);
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
    const workerDeadline = req.slo.deadlineMs - Math.min(this.replyMargin.marginMs(now), req.slo.budgetMs / 4);
    const images = req.tensor.batch;
    const load = admissionLoad(this.backlog, this.o.table, this.o.executors, now, images, req.slo.minAccuracy); // admit()'s inputs (backlog.ts)
    const input = {
      now,
      deadline: workerDeadline,
      minAccuracy: req.slo.minAccuracy,
      queuedAhead: load.queuedAhead,
      workers: this.o.executors,
      soonestFree: now,
      dispatchOverheadMs: this.o.dispatchOverheadMs,
    };
    const verdict = admit(this.o.table, this.o.admission, input);
    if (verdict === 'reject') {
      // refused even with nothing queued ahead (its own budget or accuracy floor): not a sign of load
      const alone = admit(this.o.table, this.o.admission, { ...input, queuedAhead: 0 }) === 'reject';
      this.outcomes.rejected(req, sloClass, now, alone);
      throw admissionRefusal(req.slo, now, workerDeadline, load, this.o.table);
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
    this.outcomes.pending(req.model, this.calls.size);
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
    const images = c.req.tensor.batch;
    const profiledMs = outcome instanceof Error ? 0 : images * (this.msPerImage.get(outcome.servedBy.subnet) ?? 0);
    this.backlog.finished(images, !(outcome instanceof Error), this.o.clock(), profiledMs);
    c.cleanup();
    if (this.calls.size === 0) for (const w of [...this.idleWaiters]) w();
    this.outcomes.pending(c.req.model, this.calls.size);
    if (outcome instanceof Error) {
      this.outcomes.failed(c, outcome);
      c.reject(outcome);
      return;
    }
    this.outcomes.answered(c, outcome);
    // the reply path of this answer: from its batch's end to here (the margin later calls plan with)
    const reply = replyPathMs(outcome.servedBy);
    if (reply !== undefined) this.replyMargin.observe(this.o.clock(), reply);
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
