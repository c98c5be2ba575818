/**
 * What the frontend records about a call that ends, and who hears of it: the request metrics
 * (pending, failures by reason, SLO outcome, duration, slack, served accuracy, subnet and exit
 * chosen, the reply path's time), Triton's per-model statistics, and the OutcomeEvent every live
 * view receives. The frontend decides how a call ends; this only records it. Owns the outcome
 * listeners.
 */
import type { DecodedInfer, InferAnswer } from '../api/types.js';
import { SlackserveError } from '../errors.js';
import type { Metrics, SloOutcome } from '../metrics/metrics.js';
import { failureReasonOf, type ModelStats } from '../metrics/model-stats.js';
import type { OutcomeEvent } from '../metrics/outcome-event.js';
import { replyPathMs } from './reply-margin.js';

export interface CallOutcomesOptions {
  /** The served model's version (Triton's statistics are per model and version). */
  readonly version: string;
  readonly stats: ModelStats;
  /** Subnet id -> its accuracy. */
  readonly accuracy: ReadonlyMap<string, number>;
  readonly clock: () => number;
  readonly metrics?: Metrics;
}

/** What the records need of a call that ends. */
export interface EndedCall {
  readonly req: DecodedInfer;
  readonly sloClass: string;
  /** When the frontend took the call (epoch ms). */
  readonly started: number;
}

export class CallOutcomes {
  private readonly listeners = new Set<(e: OutcomeEvent) => void>();

  constructor(private readonly o: CallOutcomesOptions) {}

  /** Every finished call is reported here (returns the unsubscribe function). */
  onOutcome(listener: (e: OutcomeEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private emit(e: OutcomeEvent): void {
    for (const l of this.listeners) {
      try {
        l(e);
      } catch {
        // a failing live view must not fail the call it reports on
      }
    }
  }

  /** The calls of `model` in flight now. */
  pending(model: string, inFlight: number): void {
    const m = this.o.metrics;
    m?.of(m.pending, model).set(inFlight);
    this.o.stats.pending(model, this.o.version, inFlight);
  }

  /**
   * Rejected by admission at `now`: shed before it became a call. `infeasible`: it would have been
   * refused with nothing queued ahead (its own budget or accuracy floor), so it says nothing of load.
   */
  rejected(req: DecodedInfer, sloClass: string, now: number, infeasible = false): void {
    const m = this.o.metrics;
    m?.of(m.requestFailure, req.model, 'REJECTED').inc();
    this.o.stats.failure(req.model, this.o.version, 'REJECTED', now - req.slo.arrivalMs);
    m?.of(m.sloOutcome, sloClass, 'shed').inc();
    this.emit({ ok: false, code: 'DEADLINE_EXPIRED', sloClass, met: false, shed: true, downgraded: false, subnet: null, exit: null, accuracy: null, latencyMs: 0, budgetMs: req.slo.budgetMs, ...(infeasible ? { infeasible } : {}) });
  }

  /** A request refused before it became a call, under the labels the caller bounded. */
  edgeFailure(model: string, version: string, err: unknown, arrivalMs: number): void {
    const code = err instanceof SlackserveError ? err.code : 'INTERNAL';
    this.o.stats.failure(model, version, failureReasonOf(code), Math.max(0, this.o.clock() - arrivalMs));
    const m = this.o.metrics;
    m?.of(m.requestFailure, model, failureReasonOf(code)).inc();
  }

  /** A call that ends with `err`. */
  failed(c: EndedCall, err: Error): void {
    const m = this.o.metrics;
    const model = c.req.model;
    const code = err instanceof SlackserveError ? err.code : 'INTERNAL';
    m?.of(m.requestFailure, model, failureReasonOf(code)).inc();
    this.o.stats.failure(model, this.o.version, failureReasonOf(code), this.o.clock() - c.req.slo.arrivalMs);
    const shed = code === 'DEADLINE_EXPIRED' || code === 'QUEUE_FULL';
    m?.of(m.sloOutcome, c.sloClass, code === 'CANCELLED' ? 'cancelled' : shed ? 'shed' : 'missed').inc();
    this.emit({ ok: false, code, sloClass: c.sloClass, met: false, shed, downgraded: false, subnet: null, exit: null, accuracy: null, latencyMs: this.o.clock() - c.started, budgetMs: c.req.slo.budgetMs });
  }

  /** A call answered with `a` (its final answer). */
  answered(c: EndedCall, a: InferAnswer): void {
    const m = this.o.metrics;
    const model = c.req.model;
    const done = this.o.clock();
    m?.of(m.requestSuccess, model).inc();
    this.o.stats.success(model, this.o.version, done - c.req.slo.arrivalMs, c.req.tensor.batch, a.servedBy.queueUs, a.servedBy.computeUs, a.servedBy.inputUs ?? 0, a.servedBy.outputUs ?? 0);
    m?.of(m.requestDuration, model).observe((done - c.started) / 1000);
    const sb = a.servedBy;
    // met as the client sees it: answered by the client's deadline (the worker's own verdict is
    // against its earlier deadline and knows nothing of the reply path)
    const met = done <= c.req.slo.deadlineMs;
    const outcomeLabel: SloOutcome = sb.downgraded ? 'downgraded' : met ? 'met' : 'missed';
    m?.of(m.sloOutcome, c.sloClass, outcomeLabel).inc();
    m?.of(m.slack, c.sloClass).observe((c.req.slo.deadlineMs - done) / 1000);
    const acc = this.o.accuracy.get(sb.subnet);
    if (acc !== undefined) m?.of(m.servedAccuracy, c.sloClass).observe(acc);
    m?.of(m.subnetChoice, sb.subnet).inc();
    m?.of(m.exitChoice, sb.exit).inc();
    this.emit({ ok: true, code: null, sloClass: c.sloClass, met, shed: false, downgraded: sb.downgraded, subnet: sb.subnet, exit: sb.exit, accuracy: acc ?? null, latencyMs: done - c.started, budgetMs: c.req.slo.budgetMs, deadlineAnswer: sb.deadlineAnswer === true });
    // time outside the queue and the executor: from the batch's end to the answer here (the reply
    // path inside the server), exported so the policy's edge margin can be checked against it
    const reply = replyPathMs(sb);
    if (reply !== undefined) m?.of(m.replyDuration, model).observe(reply / 1000);
  }
}
