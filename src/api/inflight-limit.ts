/**
 * How many inference calls the edge lets in at once: `maxInflight` always, and while the server is
 * shedding load (admission or a worker shed a call within the last `holdMs`, or the edge was
 * behind on reading calls' messages: `behind`), with the adaptive
 * limit on (`inflightSloFactor` > 0), what it can actually finish within an SLO (Little's law):
 * the peak rate of successful answers of the last `memoryMs`, times the SLO the calls carry (the
 * running mean of the budgets of the calls read lately; `defaultSloMs` until one is), times
 * `inflightSloFactor`, never below `inflightFloor`.
 *
 * Why: once calls are being shed, a call let in past that many waits behind more work than the
 * server clears in an SLO, so it is shed too, after the edge spent the cores reading and decoding
 * it; under a 10x burst that starves everything (measured: 4,567 of 4,572 calls reached admission
 * after their deadline). Refused at the door (RESOURCE_EXHAUSTED / HTTP 429, before the message is
 * read) they cost almost nothing and the client learns at once; measured with a fixed cap of 48
 * (1.5x capacity x SLO for 16-image calls): 95.2% of admitted calls within the SLO.
 *
 * Only while shedding, because the door cannot see a call's own budget (it is in the message): a
 * burst of calls with long budgets on an idle server is queued, not refused. Pure: the caller
 * passes the clock.
 */
import { RecentPeak } from '../metrics/recent-peak.js';

/** The calls' mean budget follows about this many recent calls (an exponential mean). */
const BUDGET_MEAN_CALLS = 32;

export interface InflightLimitOptions {
  /** The hard cap (`maxInflight`). */
  readonly max: number;
  /** Calls per (answers/s x SLO): 0 turns the adaptive limit off (only `max` applies). */
  readonly sloFactor: number;
  /** The reference SLO, ms (`defaultSloMs`): the calls' budget until the first is seen (budget()). */
  readonly sloMs: number;
  /** The adaptive limit never goes below this many calls. */
  readonly floor: number;
  /** Width of an answer-rate window, ms. */
  readonly windowMs?: number;
  /** How long a window's rate counts towards the peak, ms. */
  readonly memoryMs?: number;
  /** How long after the last shed call the adaptive limit stays on, ms. */
  readonly holdMs?: number;
}

export class InflightLimit {
  private windowStart: number | undefined;
  private windowAnswers = 0;
  /** Completed windows' answers per ms. */
  private readonly rates: RecentPeak;
  private readonly windowMs: number;
  private readonly holdMs: number;
  private lastShed = -Infinity;
  /** Running mean of the calls' budgets, ms. */
  private meanBudgetMs: number;

  constructor(private readonly o: InflightLimitOptions) {
    this.windowMs = o.windowMs ?? 250;
    this.rates = new RecentPeak(o.memoryMs ?? 10_000);
    this.holdMs = o.holdMs ?? 1_000;
    this.meanBudgetMs = o.sloMs;
  }

  get adaptive(): boolean {
    return this.o.sloFactor > 0;
  }

  /** An inference call was answered successfully. */
  answered(now: number): void {
    if (!this.adaptive) return;
    this.roll(now);
    this.windowAnswers++;
  }

  /**
   * A call's latency budget, once its message is read. Calls that may wait 3 s can be held in
   * flight 30 times as many as calls of 100 ms at the same answer rate: with the reference SLO
   * alone, a failover's stalled answers made the door refuse calls whose budgets would have
   * outlasted it (seen in redis-sentinel.test.ts under load).
   */
  budget(ms: number): void {
    if (ms > 0 && Number.isFinite(ms)) this.meanBudgetMs += (ms - this.meanBudgetMs) / BUDGET_MEAN_CALLS;
  }

  /** A call was shed (admission, or a worker that could not finish it in time): the server is overloaded. */
  shed(now: number): void {
    this.lastShed = now;
  }

  /**
   * The edge is behind on reading: a call's message completed long after its headers (HTTP/2
   * flow control queues a burst's bodies behind one another, so their calls reach admission
   * after their deadlines). Counts as shedding: the limit turns on before the first call is shed,
   * instead of after a whole SLO's worth of calls was let in to be read, decoded and shed.
   */
  behind(now: number): void {
    this.lastShed = now;
  }

  /** True while the adaptive limit applies (shedding within the last holdMs). */
  shedding(now: number): boolean {
    return this.adaptive && now - this.lastShed <= this.holdMs;
  }

  /** Calls that may be in flight now. */
  limit(now: number): number {
    if (!this.adaptive) return this.o.max;
    this.roll(now);
    if (!this.shedding(now)) return this.o.max;
    let peak = this.rates.peak(now) ?? 0;
    // the window in progress counts too once it has run a while (a burst's first answers)
    if (this.windowStart !== undefined && now - this.windowStart >= this.windowMs / 4) peak = Math.max(peak, this.windowAnswers / (now - this.windowStart));
    const byRate = Math.ceil(peak * this.meanBudgetMs * this.o.sloFactor);
    return Math.min(this.o.max, Math.max(this.o.floor, byRate));
  }

  /** What a refused client is told: which limit it hit (`what`: calls, or requests over HTTP). */
  reason(now: number, what: 'calls' | 'requests' = 'calls'): string {
    const l = this.limit(now);
    return l < this.o.max
      ? `the server is shedding load and holds ${l} ${what}, what it answers within ${Math.round(this.meanBudgetMs)} ms (its calls' budget) at its recent rate (inflightSloFactor ${this.o.sloFactor}); retry later`
      : `the server holds ${l} ${what}, its limit (maxInflight); retry later`;
  }

  private roll(now: number): void {
    if (this.windowStart === undefined) {
      this.windowStart = now;
      return;
    }
    if (now - this.windowStart < this.windowMs) return;
    if (this.windowAnswers > 0) this.rates.push(now, this.windowAnswers / (now - this.windowStart));
    this.windowStart = now;
    this.windowAnswers = 0;
  }
}
