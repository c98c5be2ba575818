/**
 * Summary statistics of a trace: what `slackserve trace stats` prints and what the generator
 * tests check against their targets (rate, burstiness, SLO mix).
 */
import type { TraceRequest } from './format.js';

export interface TraceStats {
  count: number;
  /** the trace runs from t = 0 to its last arrival */
  duration_s: number;
  /** count / duration_s, req/s (NaN when the duration is 0) */
  mean_rate: number;
  /** most requests in one 1 s window [k, k + 1) s, req/s */
  peak_rate_1s: number;
  peak_to_mean_1s: number;
  /** most requests in one 100 ms window [k/10, (k + 1)/10) s, scaled to req/s */
  peak_rate_100ms: number;
  peak_to_mean_100ms: number;
  /** squared coefficient of variation of the inter-arrival times (1 for Poisson; NaN under 2 gaps) */
  interarrival_cv2: number;
  slo_ms: { min: number; median: number; max: number };
  /** by count, largest first */
  classes: { name: string; count: number; share: number }[];
  /** by priority value, ascending */
  priorities: { priority: number; count: number }[];
  /** fraction of requests with a min_accuracy */
  min_accuracy_share: number;
}

/** Largest number of arrivals in one tumbling window of `windowMs` starting at t = 0. */
function peakCount(reqs: readonly TraceRequest[], windowMs: number): number {
  let peak = 0;
  let cur = 0;
  let win = -1;
  for (const r of reqs) {
    const w = Math.floor(r.t_ms / windowMs);
    if (w !== win) {
      win = w;
      cur = 0;
    }
    if (++cur > peak) peak = cur;
  }
  return peak;
}

export function traceStats(reqs: readonly TraceRequest[]): TraceStats {
  const n = reqs.length;
  const duration = n > 0 ? (reqs[n - 1] as TraceRequest).t_ms / 1000 : 0;
  const mean = duration > 0 ? n / duration : NaN;

  // inter-arrival moments in one pass (Welford, stable for a million gaps)
  let gMean = 0;
  let gM2 = 0;
  for (let i = 1; i < n; i++) {
    const g = (reqs[i] as TraceRequest).t_ms - (reqs[i - 1] as TraceRequest).t_ms;
    const d = g - gMean;
    gMean += d / i;
    gM2 += d * (g - gMean);
  }
  const gaps = n - 1;
  const cv2 = gaps >= 2 && gMean > 0 ? gM2 / gaps / (gMean * gMean) : NaN;

  const slo = new Float64Array(n);
  const classCounts = new Map<string, number>();
  const priCounts = new Map<number, number>();
  let withAcc = 0;
  for (let i = 0; i < n; i++) {
    const r = reqs[i] as TraceRequest;
    slo[i] = r.slo_ms;
    classCounts.set(r.class, (classCounts.get(r.class) ?? 0) + 1);
    priCounts.set(r.priority, (priCounts.get(r.priority) ?? 0) + 1);
    if (r.min_accuracy !== undefined) withAcc++;
  }
  slo.sort();
  const median = n === 0 ? NaN : n % 2 === 1 ? (slo[(n - 1) / 2] as number) : ((slo[n / 2 - 1] as number) + (slo[n / 2] as number)) / 2;

  const peak1 = peakCount(reqs, 1000);
  const peak100 = peakCount(reqs, 100) * 10;
  return {
    count: n,
    duration_s: duration,
    mean_rate: mean,
    peak_rate_1s: peak1,
    peak_to_mean_1s: peak1 / mean,
    peak_rate_100ms: peak100,
    peak_to_mean_100ms: peak100 / mean,
    interarrival_cv2: cv2,
    slo_ms: { min: n ? (slo[0] as number) : NaN, median, max: n ? (slo[n - 1] as number) : NaN },
    classes: [...classCounts].map(([name, count]) => ({ name, count, share: count / n })).sort((a, b) => b.count - a.count || (a.name < b.name ? -1 : 1)),
    priorities: [...priCounts].map(([priority, count]) => ({ priority, count })).sort((a, b) => a.priority - b.priority),
    min_accuracy_share: n ? withAcc / n : NaN,
  };
}

function num(v: number, digits = 2): string {
  if (Number.isNaN(v)) return '-';
  return Number.isInteger(v) ? String(v) : v.toFixed(digits);
}

/** The human-readable table printed by `slackserve trace stats`. */
export function formatTraceStats(s: TraceStats, title?: string): string {
  const rows: [string, string][] = [
    ['requests', String(s.count)],
    ['duration', `${num(s.duration_s, 3)} s`],
    ['mean rate', `${num(s.mean_rate)} req/s`],
    ['peak rate (1 s)', `${num(s.peak_rate_1s)} req/s  (peak/mean ${num(s.peak_to_mean_1s)})`],
    ['peak rate (100 ms)', `${num(s.peak_rate_100ms)} req/s  (peak/mean ${num(s.peak_to_mean_100ms)})`],
    ['inter-arrival CV²', num(s.interarrival_cv2, 3)],
    ['slo_ms min/median/max', `${num(s.slo_ms.min)} / ${num(s.slo_ms.median)} / ${num(s.slo_ms.max)}`],
    ['with min_accuracy', `${num(100 * s.min_accuracy_share, 1)}%`],
    ['classes', s.classes.map((c) => `${c.name} ${c.count} (${(100 * c.share).toFixed(1)}%)`).join(', ') || '-'],
    ['priorities', s.priorities.map((p) => `${p.priority}: ${p.count}`).join(', ') || '-'],
  ];
  const w = Math.max(...rows.map(([k]) => k.length));
  return (title ? `${title}\n` : '') + rows.map(([k, v]) => `  ${k.padEnd(w)}  ${v}`).join('\n');
}
