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
  subnets: Map<string, number>;
  exits: Map<string, number>;
}

export interface LiveSnapshot {
  readonly t: number;
  readonly rolling: { readonly attainment: number | null; readonly throughput: number; readonly accuracy: number | null; readonly shed: number; readonly downgraded: number; readonly errors: number };
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
      b = { second, total: 0, met: 0, shed: 0, downgraded: 0, errors: 0, accSum: 0, accN: 0, subnets: new Map(), exits: new Map() };
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
        accuracy: accN === 0 ? null : sum((b) => b.accSum) / accN,
        shed: sum((b) => b.shed),
        downgraded: sum((b) => b.downgraded),
        errors: sum((b) => b.errors),
      },
      cumulative: { total: this.total, attainment: this.total === 0 ? null : this.met / this.total, byClass },
      subnetMix: mix((b) => b.subnets),
      exitMix: mix((b) => b.exits),
    };
  }
}
