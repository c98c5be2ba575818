/**
 * The dashboard's numbers: every finished call counted into one-second buckets (rolling views
 * over the last `windowS` seconds) and cumulative totals by SLO class. Time is injected.
 */
import type { OutcomeEvent } from '../metrics/outcome-event.js';

interface Bucket {
  second: number;
  total: number;
  met: number;
  shed: number;
  downgraded: number;
  errors: number;
  accSum: number;
  accN: number;
  deadlineExceeded: number;
  deadlineAnswers: number;
  /** Latencies of answered calls (ms) and budgets of every call (ms), for the window's quantiles. */
  latencies: number[];
  budgets: number[];
  subnets: Map<string, number>;
  exits: Map<string, number>;
}

/** The q-quantile (0..1) of `xs` (nearest rank), null when empty. */
export function quantile(xs: readonly number[], q: number): number | null {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))]!;
}

export interface LiveSnapshot {
  readonly t: number;
  readonly rolling: {
    readonly attainment: number | null;
    /** Finished calls per second, whatever their outcome (the offered load, as served or refused). */
    readonly throughput: number;
    /** Answered calls per second. */
    readonly answered: number;
    readonly accuracy: number | null;
    readonly shed: number;
    readonly downgraded: number;
    readonly errors: number;
    /** Calls whose client-set deadline passed (DEADLINE_EXCEEDED). */
    readonly deadlineExceeded: number;
    /** Answers given at the deadline with the best exit so far. */
    readonly deadlineAnswers: number;
    /** Latency of answered calls, ms. */
    readonly latencyP50: number | null;
    readonly latencyP99: number | null;
    /** The median latency budget of the window's calls, ms (the SLO line). */
    readonly sloMs: number | null;
  };
  readonly cumulative: { readonly total: number; readonly attainment: number | null; readonly byClass: Record<string, { total: number; met: number; attainment: number }> };
  readonly subnetMix: Record<string, number>;
  readonly exitMix: Record<string, number>;
}

export class LiveStats {
  private readonly buckets: Bucket[] = [];
  private readonly byClass = new Map<string, { total: number; met: number }>();
  private total = 0;
  private met = 0;

  constructor(private readonly windowS = 5) {}

  record(e: OutcomeEvent, nowMs: number): void {
    const second = Math.floor(nowMs / 1000);
    let b = this.buckets[this.buckets.length - 1];
    if (!b || b.second !== second) {
      b = { second, total: 0, met: 0, shed: 0, downgraded: 0, errors: 0, accSum: 0, accN: 0, deadlineExceeded: 0, deadlineAnswers: 0, latencies: [], budgets: [], subnets: new Map(), exits: new Map() };
      this.buckets.push(b);
      while (this.buckets.length > 60) this.buckets.shift();
    }
    b.total++;
    this.total++;
    const c = this.byClass.get(e.sloClass) ?? { total: 0, met: 0 };
    c.total++;
    if (e.ok && e.met) {
      b.met++;
      this.met++;
      c.met++;
      if (e.accuracy !== null) {
        b.accSum += e.accuracy;
        b.accN++;
      }
    }
    this.byClass.set(e.sloClass, c);
    if (e.shed) b.shed++;
    else if (!e.ok) b.errors++;
    if (e.code === 'DEADLINE_EXCEEDED') b.deadlineExceeded++;
    if (e.deadlineAnswer === true) b.deadlineAnswers++;
    // bounded: at most this many samples per second feed the quantiles
    if (e.ok && b.latencies.length < 5000) b.latencies.push(e.latencyMs);
    if (e.budgetMs !== undefined && b.budgets.length < 5000) b.budgets.push(e.budgetMs);
    if (e.downgraded) b.downgraded++;
    if (e.subnet) b.subnets.set(e.subnet, (b.subnets.get(e.subnet) ?? 0) + 1);
    if (e.exit) b.exits.set(e.exit, (b.exits.get(e.exit) ?? 0) + 1);
  }

  snapshot(nowMs: number): LiveSnapshot {
    const from = Math.floor(nowMs / 1000) - this.windowS;
    const win = this.buckets.filter((b) => b.second > from);
    const sum = (f: (b: Bucket) => number): number => win.reduce((a, b) => a + f(b), 0);
    const total = sum((b) => b.total);
    const mix = (f: (b: Bucket) => Map<string, number>): Record<string, number> => {
      const m: Record<string, number> = {};
      for (const b of win) for (const [k, v] of f(b)) m[k] = (m[k] ?? 0) + v;
      const n = Object.values(m).reduce((a, v) => a + v, 0);
      for (const k of Object.keys(m)) m[k] = (m[k] as number) / n;
      return m;
    };
    const accN = sum((b) => b.accN);
    const byClass: Record<string, { total: number; met: number; attainment: number }> = {};
    for (const [k, v] of this.byClass) byClass[k] = { ...v, attainment: v.met / v.total };
    return {
      t: nowMs,
      rolling: {
        attainment: total === 0 ? null : sum((b) => b.met) / total,
        throughput: total / this.windowS,
        answered: sum((b) => b.latencies.length) / this.windowS,
        accuracy: accN === 0 ? null : sum((b) => b.accSum) / accN,
        shed: sum((b) => b.shed),
        downgraded: sum((b) => b.downgraded),
        errors: sum((b) => b.errors),
        deadlineExceeded: sum((b) => b.deadlineExceeded),
        deadlineAnswers: sum((b) => b.deadlineAnswers),
        latencyP50: quantile(win.flatMap((b) => b.latencies), 0.5),
        latencyP99: quantile(win.flatMap((b) => b.latencies), 0.99),
        sloMs: quantile(win.flatMap((b) => b.budgets), 0.5),
      },
      cumulative: { total: this.total, attainment: this.total === 0 ? null : this.met / this.total, byClass },
      subnetMix: mix((b) => b.subnets),
      exitMix: mix((b) => b.exits),
    };
  }
}
