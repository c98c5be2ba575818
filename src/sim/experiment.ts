/**
 * One simulated experiment: the same arrivals through several policies, each from a fresh state
 * and the same noise seed, so differences come from the policies alone.
 */
import type { AdmissionMode } from '../scheduler/admission.js';
import type { LatencyTable } from '../scheduler/latency-table.js';
import { buildPolicy, type PolicyOptions } from '../scheduler/registry.js';
import { simulate, type SimArrivals, type SimOptions } from './simulator.js';
import { summarize, timeSeries, type SimSummary, type TimeSeries } from './summary.js';

export interface ExperimentOptions {
  readonly policies: readonly string[];
  readonly sim: Partial<SimOptions> & { readonly admission?: AdmissionMode };
  readonly policy?: PolicyOptions;
  readonly bins?: number;
}

export interface ExperimentResult {
  readonly summaries: SimSummary[];
  readonly series: { policy: string; series: TimeSeries }[];
}

export function runExperiment(arrivals: SimArrivals, table: LatencyTable, o: ExperimentOptions): ExperimentResult {
  // build every policy first so a bad name fails before any simulation runs
  const policies = o.policies.map((p) => buildPolicy(p, table, o.policy ?? {}));
  const summaries: SimSummary[] = [];
  const series: { policy: string; series: TimeSeries }[] = [];
  for (const p of policies) {
    const run = simulate(arrivals, table, p, o.sim);
    summaries.push(summarize(run));
    series.push({ policy: p.name, series: timeSeries(run, o.bins ?? 120) });
  }
  return { summaries, series };
}

/** A fixed-width text table of the headline figures. */
export function summaryTable(rows: readonly SimSummary[]): string {
  const head = ['policy', 'attain', 'accuracy', 'goodput/s', 'p50 ms', 'p99 ms', 'dropped', 'rejected', 'late', 'batch', 'wall s'];
  const pct = (v: number | null): string => (v === null ? '-' : (v * 100).toFixed(2) + '%');
  const num = (v: number | null, d = 2): string => (v === null ? '-' : v.toFixed(d));
  const body = rows.map((r) => [
    r.policy,
    pct(r.slo_attainment),
    pct(r.mean_served_accuracy),
    num(r.goodput_rps, 0),
    num(r.latency_p50_ms),
    num(r.latency_p99_ms),
    String(r.dropped),
    String(r.rejected),
    String(r.served_late),
    num(r.mean_batch, 1),
    num(r.sim_wall_s),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => (b[i] as string).length)));
  const line = (cells: readonly string[]): string => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i] as number) : c.padStart(widths[i] as number))).join('  ');
  return [line(head), line(widths.map((w) => '-'.repeat(w))), ...body.map(line)].join('\n');
}
