/**
 * Online end-to-end latency model for live planning (issue 12). A profile is measured on an idle
 * machine; live, a batch also pays the hand-off to its executor thread and competes for the cores
 * with the other executor threads and the event loop, so its latency depends on how many batches
 * run at once and drifts with load. One global ratio (the old calibration) cannot follow that.
 *
 * The model keeps, per (subnet, batch-size bucket, batches running at dispatch), a quantile
 * (configurable; the median measured best live, docs/scheduling.md) of the ratio observed /
 * profiled median, and its median for throughput, tracked online in log space with the
 * stochastic quantile update (a step up when a sample lands above the estimate, a small step down
 * otherwise): a run of slow batches raises it within a dozen batches, so it adapts inside a burst,
 * and it falls back slowly. Keys with few samples plan with the estimate pooled over subnets for
 * their (bucket, running) cell, then with the estimate for their running count, then with 1.
 *
 * Contention moves every cell at once (a burst at the edge takes the cores from all batches), but a
 * cell learns only from its own batches: a subnet that last ran on a calm machine is planned calm
 * in the middle of a burst, and SlackFit then picks exactly that stale, slow subnet (measured in
 * the overload bench: the largest subnets chosen mid-burst, running 3x their plan). So the model
 * also keeps one fast EWMA over all batches of how far each batch ran above the estimate it was
 * planned with (log residual); past a dead band it scales every plan. It is a bridge: once the
 * cells themselves have caught up, the residuals fall back to zero and so does the term.
 *
 * The planned latency of a pair is `profiled median x ratio quantile x contention x headroom`. The headroom is
 * applied after the ratio, so the ratio can never cancel it: a slow controller raises it while the
 * recent miss rate (misses counted by the worker against each request's deadline) is above its
 * target and lowers it back toward 1 while misses are rare.
 *
 * Pure: `observe` returns a new state (typed arrays are copied; they are a few hundred numbers).
 */
import type { LatencyTable } from './latency-table.js';

export interface LatencyModelOptions {
  /** Quantile of observed / profiled latency the plan uses, 0.5..0.999. */
  readonly quantile: number;
  /** Log-space step of the quantile update (larger adapts faster, and is noisier). */
  readonly step: number;
  /** Samples before a key's own estimate replaces the pooled one. */
  readonly minSamples: number;
  /** Running counts tracked separately (1..this; more running batches share the last cell). */
  readonly maxRunning: number;
  /** Miss rate the headroom controller aims under (0..1). */
  readonly missTarget: number;
  /** Weight of the newest batch in the miss-rate average. */
  readonly missAlpha: number;
  /** Relative headroom change per batch while the miss rate is off target. */
  readonly headroomGain: number;
  readonly headroomMax: number;
  /** Weight of the newest batch in the contention EWMA (0 turns the term off). */
  readonly contentionAlpha: number;
  /** Dead band of the contention term, as a ratio: residuals below it are noise (1.15 = 15%). */
  readonly contentionDeadband: number;
}

export const LATENCY_MODEL_DEFAULTS: LatencyModelOptions = Object.freeze({
  quantile: 0.5,
  step: 0.1,
  minSamples: 8,
  maxRunning: 4,
  missTarget: 0.01,
  missAlpha: 0.02,
  headroomGain: 0.01,
  headroomMax: 2,
  contentionAlpha: 0.2,
  contentionDeadband: 1.15,
});

/** Batch-size buckets: 1, 2-3, 4-7, 8-15, 16-31, 32-63, 64+ (powers of two). */
export const SIZE_BUCKETS = 7;
export const sizeBucket = (b: number): number => Math.min(SIZE_BUCKETS - 1, Math.floor(Math.log2(Math.max(1, b))));

export interface LatencyModelState {
  /** log of the ratio quantile per (subnet, size bucket, running - 1). */
  readonly logQ: Float64Array;
  /** log of the ratio's median, same cells (throughput is planned with the typical batch). */
  readonly logM: Float64Array;
  readonly count: Uint32Array;
  /** The same pooled over subnets: per (size bucket, running - 1). */
  readonly poolLogQ: Float64Array;
  readonly poolCount: Uint32Array;
  /** Per running - 1, pooled over everything. */
  readonly runLogQ: Float64Array;
  readonly runCount: Uint32Array;
  readonly headroom: number;
  /** EWMA over all batches of log(observed / planned ratio): how much slower than planned batches run now. */
  readonly contention: number;
  /** Recent fraction of requests that missed (EWMA per batch). */
  readonly missRate: number;
  readonly batches: number;
}

export interface LatencyObservation {
  readonly subnetIndex: number;
  /** Images in the batch. */
  readonly batch: number;
  readonly latencyMs: number;
  /** Batches running when it was dispatched, itself included (>= 1). */
  readonly running: number;
  /** Requests of the batch that missed their deadline, and requests in it. */
  readonly missed: number;
  readonly requests: number;
}

export class LatencyModel {
  readonly o: LatencyModelOptions;
  private readonly nSub: number;

  constructor(
    private readonly table: LatencyTable,
    options: Partial<LatencyModelOptions> = {},
  ) {
    this.o = { ...LATENCY_MODEL_DEFAULTS, ...options };
    this.nSub = table.subnets.length;
  }

  init(): LatencyModelState {
    const cells = this.nSub * SIZE_BUCKETS * this.o.maxRunning;
    return {
      logQ: new Float64Array(cells),
      logM: new Float64Array(cells),
      count: new Uint32Array(cells),
      poolLogQ: new Float64Array(SIZE_BUCKETS * this.o.maxRunning),
      poolCount: new Uint32Array(SIZE_BUCKETS * this.o.maxRunning),
      runLogQ: new Float64Array(this.o.maxRunning),
      runCount: new Uint32Array(this.o.maxRunning),
      headroom: 1,
      contention: 0,
      missRate: 0,
      batches: 0,
    };
  }

  private run(running: number): number {
    return Math.min(this.o.maxRunning, Math.max(1, Math.round(running))) - 1;
  }

  /** Profiled median of subnet `index` at `b` images (the model's unit). */
  base(index: number, b: number): number {
    return this.table.stats(index, Math.min(Math.max(1, b), this.table.maxBatch)).p50;
  }

  /**
   * The ratio's median for a pair (what throughput is planned with): its own cell once it has
   * samples, else the high quantile's fallback chain.
   */
  median(st: LatencyModelState, index: number, b: number, running: number): number {
    const cell = index * SIZE_BUCKETS * this.o.maxRunning + sizeBucket(b) * this.o.maxRunning + this.run(running);
    if ((st.count[cell] as number) >= this.o.minSamples) return Math.exp(st.logM[cell] as number);
    return this.ratio(st, index, b, running);
  }

  /** The ratio quantile for a pair, from the most specific cell with enough samples. */
  ratio(st: LatencyModelState, index: number, b: number, running: number): number {
    const r = this.run(running);
    const pool = sizeBucket(b) * this.o.maxRunning + r;
    const cell = index * SIZE_BUCKETS * this.o.maxRunning + pool;
    const m = this.o.minSamples;
    if ((st.count[cell] as number) >= m) return Math.exp(st.logQ[cell] as number);
    if ((st.poolCount[pool] as number) >= m) return Math.exp(st.poolLogQ[pool] as number);
    if ((st.runCount[r] as number) >= m) return Math.exp(st.runLogQ[r] as number);
    // a running count never seen: the nearest lower one that has been (more batches are not faster)
    for (let k = r - 1; k >= 0; k--) if ((st.runCount[k] as number) >= m) return Math.exp(st.runLogQ[k] as number);
    return 1;
  }

  /** The factor every plan is scaled by while batches run slower than their cells expect (>= 1). */
  contention(st: LatencyModelState): number {
    return Math.exp(Math.max(0, st.contention - Math.log(this.o.contentionDeadband)));
  }

  /** Planned latency of `b` images on subnet `index` with `running` batches at once, ms. */
  plan(st: LatencyModelState, index: number, b: number, running: number): number {
    return this.base(index, b) * this.ratio(st, index, b, running) * this.contention(st) * st.headroom;
  }

  observe(st: LatencyModelState, x: LatencyObservation): LatencyModelState {
    if (!(x.latencyMs > 0) || x.batch < 1 || x.subnetIndex < 0 || x.subnetIndex >= this.nSub) return st;
    const lr = Math.log(Math.min(50, Math.max(0.05, x.latencyMs / this.base(x.subnetIndex, x.batch))));
    const r = this.run(x.running);
    const pool = sizeBucket(x.batch) * this.o.maxRunning + r;
    const cell = x.subnetIndex * SIZE_BUCKETS * this.o.maxRunning + pool;
    // residual against what the batch was planned with (before this sample moves its cell)
    const residual = lr - Math.log(this.ratio(st, x.subnetIndex, x.batch, x.running));
    const ca = this.o.contentionAlpha;
    // clamped to e^-1..e^3 (0.37x..20x): one pathological batch (a GC pause, a cold subnet) moves
    // the term at most this far
    const contention = (1 - ca) * st.contention + ca * Math.max(-1, Math.min(3, residual));
    const next = {
      logQ: st.logQ.slice(),
      logM: st.logM.slice(),
      count: st.count.slice(),
      poolLogQ: st.poolLogQ.slice(),
      poolCount: st.poolCount.slice(),
      runLogQ: st.runLogQ.slice(),
      runCount: st.runCount.slice(),
    };
    this.step(next.logM, st.count[cell] as number, cell, lr, 0.5);
    this.update(next.logQ, next.count, cell, lr);
    this.update(next.poolLogQ, next.poolCount, pool, lr);
    this.update(next.runLogQ, next.runCount, r, lr);
    const frac = x.requests > 0 ? Math.min(1, x.missed / x.requests) : 0;
    const alpha = Math.max(this.o.missAlpha, 1 / (st.batches + 1));
    const missRate = (1 - alpha) * st.missRate + alpha * frac;
    let headroom = st.headroom;
    if (missRate > this.o.missTarget) headroom = Math.min(this.o.headroomMax, headroom * (1 + this.o.headroomGain));
    else if (missRate < this.o.missTarget / 2) headroom = Math.max(1, headroom * (1 - this.o.headroomGain / 4));
    return { ...next, headroom, contention, missRate, batches: st.batches + 1 };
  }

  /**
   * One quantile step in log space. The first sample of a cell sets it (no prior to unlearn);
   * until `minSamples` the step is larger so a fresh cell converges quickly.
   */
  private update(q: Float64Array, n: Uint32Array, i: number, lr: number): void {
    this.step(q, n[i] as number, i, lr, this.o.quantile);
    n[i] = (n[i] as number) + 1;
  }

  private step(q: Float64Array, c: number, i: number, lr: number, tau: number): void {
    if (c === 0) q[i] = lr;
    else {
      const eta = c < this.o.minSamples ? 4 * this.o.step : this.o.step;
      q[i] = (q[i] as number) + eta * (lr > (q[i] as number) ? tau : tau - 1);
    }
  }
}
