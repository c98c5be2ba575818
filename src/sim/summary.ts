/**
 * Per-policy results of a simulated run: the figures `slackserve simulate` prints (and its JSON
 * carries), and the time series its plots draw. SLO attainment counts every arrival in the
 * denominator, so dropping or rejecting a request never improves it.
 */
import { Fate, type SimRun } from './simulator.js';

export interface SimSummary {
  readonly policy: string;
  readonly workers: number;
  readonly requests: number;
  readonly duration_s: number;
  readonly offered_rps: number;
  /** Served within the deadline / all arrivals. */
  readonly slo_attainment: number;
  /** Mean top-1 of the subnets that served requests within their SLO. */
  readonly mean_served_accuracy: number | null;
  /** Requests served within their SLO per second. */
  readonly goodput_rps: number;
  readonly served: number;
  readonly served_late: number;
  readonly dropped: number;
  readonly rejected: number;
  readonly downgraded: number;
  readonly latency_p50_ms: number | null;
  readonly latency_p99_ms: number | null;
  /** Mean answer latency of served requests (with exits: when each request got its answer). */
  readonly mean_latency_ms: number | null;
  /** Share of served requests answered early at a ramp by the exit policy (0 without exits). */
  readonly early_share: number;
  /** Requests given a deadline answer (served within SLO by the last ramp finished; 0 without exits). */
  readonly deadline_answers: number;
  readonly mean_batch: number;
  readonly variant_loads: number;
  /** Share of served requests per subnet id. */
  readonly subnet_mix: Readonly<Record<string, number>>;
  readonly sim_wall_s: number;
}

const r4 = (v: number): number => Math.round(v * 1e4) / 1e4;

export function summarize(run: SimRun): SimSummary {
  const { status, finish, subnet, arrivals } = run;
  const n = status.length;
  const lat = new Float64Array(n);
  let served = 0;
  let met = 0;
  let accSum = 0;
  let dropped = 0;
  let rejected = 0;
  let downgraded = 0;
  let latSum = 0;
  let early = 0;
  let deadlineAnswers = 0;
  const ex = run.exits;
  const mix = new Float64Array(run.subnets.length);
  for (let i = 0; i < n; i++) {
    const st = status[i];
    if (run.downgraded[i]) downgraded++;
    if (st === Fate.Served) {
      const l = (finish[i] as number) - (arrivals.t_ms[i] as number);
      lat[served++] = l;
      latSum += l;
      const si = subnet[i] as number;
      mix[si] = (mix[si] as number) + 1;
      if (ex) {
        early += ex.early[i] as number;
        deadlineAnswers += ex.deadline[i] as number;
      }
      if (l <= (arrivals.slo_ms[i] as number)) {
        met++;
        accSum += ex ? (ex.accuracy[i] as number) : (run.subnets[si] as { accuracy: number }).accuracy;
      }
    } else if (st === Fate.Rejected) rejected++;
    else if (st !== Fate.Pending) dropped++;
  }
  const sorted = lat.subarray(0, served).sort();
  const q = (p: number): number | null => (served === 0 ? null : r4(sorted[Math.min(served - 1, Math.floor(p * served))] as number));
  const duration = n === 0 ? 0 : Math.max((arrivals.t_ms[n - 1] as number) / 1000, 1e-9);
  const subnetMix: Record<string, number> = {};
  run.subnets.forEach((s, i) => {
    if ((mix[i] as number) > 0) subnetMix[s.id] = r4((mix[i] as number) / served);
  });
  return {
    policy: run.policy,
    workers: run.workers,
    requests: n,
    duration_s: r4(duration),
    offered_rps: r4(n / duration),
    slo_attainment: n === 0 ? 0 : r4(met / n),
    mean_served_accuracy: met === 0 ? null : r4(accSum / met),
    goodput_rps: r4(met / duration),
    served,
    served_late: served - met,
    dropped,
    rejected,
    downgraded,
    latency_p50_ms: q(0.5),
    latency_p99_ms: q(0.99),
    mean_latency_ms: served === 0 ? null : r4(latSum / served),
    early_share: served === 0 ? 0 : r4(early / served),
    deadline_answers: deadlineAnswers,
    mean_batch: run.batches === 0 ? 0 : r4(served / run.batches),
    variant_loads: run.variantLoads,
    subnet_mix: subnetMix,
    sim_wall_s: r4(run.wallMs / 1000),
  };
}

export interface TimeSeries {
  readonly binS: number;
  /** Bin start times, s. */
  readonly t: number[];
  readonly offeredRps: number[];
  readonly attainment: number[];
  /** Mean accuracy of requests served within SLO in the bin (NaN when none). */
  readonly accuracy: number[];
  /** subnet id -> share of the bin's served requests. */
  readonly mix: Record<string, number[]>;
}

/** Bins requests by arrival time. */
export function timeSeries(run: SimRun, bins = 100): TimeSeries {
  const n = run.status.length;
  const dur = n === 0 ? 1 : Math.max(run.arrivals.t_ms[n - 1] as number, 1);
  const binMs = dur / bins;
  const arrivals = new Float64Array(bins);
  const met = new Float64Array(bins);
  const acc = new Float64Array(bins);
  const servedIn = new Float64Array(bins);
  const mix = run.subnets.map(() => new Float64Array(bins));
  for (let i = 0; i < n; i++) {
    const k = Math.min(bins - 1, Math.floor((run.arrivals.t_ms[i] as number) / binMs));
    arrivals[k] = (arrivals[k] as number) + 1;
    if (run.status[i] !== Fate.Served) continue;
    const si = run.subnet[i] as number;
    servedIn[k] = (servedIn[k] as number) + 1;
    const m = mix[si] as Float64Array;
    m[k] = (m[k] as number) + 1;
    if ((run.finish[i] as number) - (run.arrivals.t_ms[i] as number) <= (run.arrivals.slo_ms[i] as number)) {
      met[k] = (met[k] as number) + 1;
      acc[k] = (acc[k] as number) + (run.exits ? (run.exits.accuracy[i] as number) : (run.subnets[si] as { accuracy: number }).accuracy);
    }
  }
  const out: TimeSeries = { binS: binMs / 1000, t: [], offeredRps: [], attainment: [], accuracy: [], mix: {} };
  for (let k = 0; k < bins; k++) {
    out.t.push((k * binMs) / 1000);
    out.offeredRps.push((arrivals[k] as number) / (binMs / 1000));
    out.attainment.push(arrivals[k] ? (met[k] as number) / (arrivals[k] as number) : NaN);
    out.accuracy.push(met[k] ? (acc[k] as number) / (met[k] as number) : NaN);
  }
  run.subnets.forEach((s, si) => {
    const m = mix[si] as Float64Array;
    if (m.some((v) => v > 0)) out.mix[s.id] = Array.from(m, (v, k) => (servedIn[k] ? v / (servedIn[k] as number) : 0));
  });
  return out;
}
