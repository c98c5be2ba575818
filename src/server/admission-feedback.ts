/**
 * Admission's correction from its own misses. Admission (src/scheduler/admission.ts) estimates a
 * new request's wait optimistically: the work ahead drains at the fastest eligible subnet's
 * profiled rate at the largest batch, scaled by the peak efficiency of recent saturated windows
 * (backlog.ts). That turns away only hopeless requests, but under a burst it admits calls that
 * then miss: the burst itself takes CPU from the executors (the edge reads and refuses thousands
 * of calls, a load generator on the same cores sends them), so the backlog drains slower than any
 * window measured before it. Measured in the overload bench (docs/serving.md): admitted burst
 * calls that missed had waited a median 60-80 ms in the queue against the ~20-40 ms admission
 * allowed for.
 *
 * So each admitted call that misses its (worker) deadline after waiting behind a real backlog says
 * by how much admission under-estimated the drain time: `needed` = (its time from admission to
 * its end, less the fixed part admission counted) / the queue time admission predicted. The factor
 * jumps to the largest such value seen (times `slack`, capped at `maxFactor`), and multiplies the
 * drain time admission predicts for later calls; it decays back to 1 with a half-life of
 * `halfLifeMs` while no more misses come. Only misses move it, never answers in time: SlackFit
 * spends a request's slack on accuracy on purpose, so an answer near its deadline says nothing
 * about the queue. A miss with little queue predicted ahead (under `minQueueMs`) is not about the
 * queue and is ignored.
 *
 * Pure bookkeeping: the caller passes the clock.
 */

export interface AdmissionFeedbackOptions {
  /** Half-life of the factor's decay back to 1, ms. */
  readonly halfLifeMs?: number;
  /** Largest factor. */
  readonly maxFactor?: number;
  /** A miss moves the factor to `needed` x this. */
  readonly slack?: number;
  /** Misses whose predicted queue time was under this are ignored, ms. */
  readonly minQueueMs?: number;
}

export class AdmissionFeedback {
  private factorAt = 1;
  private since = 0;
  private readonly halfLifeMs: number;
  private readonly maxFactor: number;
  private readonly slack: number;
  private readonly minQueueMs: number;
  /** Misses that moved the factor, for the metrics and the log. */
  raised = 0;

  constructor(o: AdmissionFeedbackOptions = {}) {
    this.halfLifeMs = o.halfLifeMs ?? 1_000;
    this.maxFactor = o.maxFactor ?? 8;
    this.slack = o.slack ?? 1.1;
    this.minQueueMs = o.minQueueMs ?? 2;
  }

  /** What admission multiplies its predicted drain time by now (>= 1). */
  factor(now: number): number {
    if (this.factorAt <= 1) return 1;
    const f = 1 + (this.factorAt - 1) * 0.5 ** (Math.max(0, now - this.since) / this.halfLifeMs);
    return f < 1.001 ? 1 : f;
  }

  /**
   * An admitted call missed its deadline. `admittedAt`: when admission let it in; `endedAt`: when
   * it was answered or failed (at least its deadline for a call the worker shed early, which ended
   * before its deadline only because it could not make it); `predictedQueueMs`: the drain time
   * admission predicted for the work ahead of it (before this factor); `fixedMs`: the rest of
   * admission's estimate (dispatch, running alone).
   */
  missed(now: number, admittedAt: number, endedAt: number, predictedQueueMs: number, fixedMs: number): void {
    if (!(predictedQueueMs >= this.minQueueMs)) return;
    const needed = (endedAt - admittedAt - fixedMs) / predictedQueueMs;
    if (!Number.isFinite(needed)) return;
    const target = Math.min(this.maxFactor, needed * this.slack);
    const current = this.factor(now);
    if (target <= current) return;
    this.factorAt = target;
    this.since = now;
    this.raised++;
  }
}
