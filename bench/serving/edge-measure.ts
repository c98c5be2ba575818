/**
 * One measurement of bench/serving/edge.ts (an h2load run against one server, with the server's
 * CPU, success counters and probe read before and after), and the median of repeated ones.
 */
import { readFileSync } from 'node:fs';
import { runH2load, latency } from './edge-h2load.js';
import { counterDelta, readCounters, type Counters, type Server, type ThreadCpu } from './edge-procs.js';
import type { ProbeDump } from './probe.js';
import { median } from './common.js';

export interface ProbeFigures {
  gc_count: number;
  /** Of which full (mark-compact) GCs. */
  gc_major_count: number;
  gc_p99_ms: number;
  gc_max_ms: number;
  gc_total_ms: number;
  el_p50_ms: number;
  el_p99_ms: number;
  el_max_ms: number;
  rss_mb: number;
  heap_used_mb: number;
  heap_floor_mb: number;
}

export interface RunRecord {
  /** Offered rate, req/s; null for the closed loop (saturation). */
  offered_rps: number | null;
  seconds: number;
  /** h2load's HTTP-200 answers per second. */
  achieved_rps: number;
  /** Answers the server counts successful (Prometheus; every 200 for the echo). */
  success: number;
  success_rps: number;
  success_images_per_s: number;
  /** success / h2load's HTTP-200 answers (capped at 1). */
  success_fraction: number;
  failures: Record<string, number>;
  server_cpu_s: number;
  cpu_us_per_req: number;
  /**
   * Per process role, CPU µs per successful request by thread: the main thread, the JavaScript
   * worker threads (the executor threads, which run onnxruntime), and the rest (V8's GC and
   * compiler threads, libuv's pool). Needs the probe; without it workers is 0.
   */
  cpu_threads: Record<string, { main_us_per_req: number; workers_us_per_req: number; other_us_per_req: number }>;
  latency: { n: number; p50_ms: number; p99_ms: number; max_ms: number };
  h2load: { cpu_s: number; core_fraction: number; cpu_us_per_req: number; done: number; status_2xx: number; errored: number; timeout: number };
  /** Per process role: GC pauses and event-loop delay on its main thread over this run. */
  probe: Record<string, ProbeFigures>;
  low_success: boolean;
  h2load_busy: boolean;
  under_offered: boolean;
  load_generator_limited: boolean;
  /** The hypervisor's steal time over the run, fraction of all CPU time (/proc/stat). */
  steal_fraction: number;
}

/** Total and steal jiffies of all CPUs (/proc/stat). */
export function cpuJiffies(): { total: number; steal: number } {
  const f = (readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '').trim().split(/\s+/).slice(1).map(Number);
  return { total: f.slice(0, 8).reduce((a, b) => a + b, 0), steal: f[7] ?? 0 };
}

const stealBetween = (a: { total: number; steal: number }, b: { total: number; steal: number }): number => (b.total > a.total ? (b.steal - a.steal) / (b.total - a.total) : 0);

export const probeFigures = (d: ProbeDump): ProbeFigures => ({
  gc_count: d.gc.count,
  gc_major_count: d.gc.majorCount,
  gc_p99_ms: d.gc.p99Ms,
  gc_max_ms: d.gc.maxMs,
  gc_total_ms: d.gc.totalMs,
  el_p50_ms: d.eventLoop.p50Ms,
  el_p99_ms: d.eventLoop.p99Ms,
  el_max_ms: d.eventLoop.maxMs,
  rss_mb: d.rssBytes / 2 ** 20,
  heap_used_mb: d.heapUsedBytes / 2 ** 20,
  heap_floor_mb: d.heapFloorBytes / 2 ** 20,
});

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const cpuOf = (s: Server): number => s.procs.reduce((a, p) => a + p.cpu(), 0);
const countersOf = async (s: Server): Promise<Counters | undefined> => (s.metricsPort === undefined ? undefined : readCounters(s.metricsPort));

export interface MeasureSpec {
  readonly body: string;
  readonly images: number;
  readonly seconds: number;
  readonly clients: number;
  readonly streams: number;
  readonly rate?: number | undefined;
  /** Wait after h2load exits before reading the counters (answers still in flight), ms. */
  readonly settleMs?: number;
}

export async function measure(s: Server, m: MeasureSpec): Promise<RunRecord> {
  await Promise.all(s.procs.map((p) => p.probe())); // reset the probe windows
  const c0 = await countersOf(s);
  const cpu0 = cpuOf(s);
  const t0 = s.procs.map((p) => p.threadCpu());
  const j0 = cpuJiffies();
  const h = await runH2load({ port: s.grpcPort, body: m.body, seconds: m.seconds, clients: m.clients, streams: m.streams, rate: m.rate });
  const j1 = cpuJiffies();
  await sleep(m.settleMs ?? 300);
  const cpu1 = cpuOf(s);
  const t1 = s.procs.map((p) => p.threadCpu());
  const c1 = await countersOf(s);
  const dumps = await Promise.all(s.procs.map(async (p) => [p.role, await p.probe()] as const));
  const delta = c0 && c1 ? counterDelta(c0, c1) : { success: h.status2xx, failure: {} };
  const dur = Number.isFinite(h.durationS) && h.durationS > 0 ? h.durationS : m.seconds;
  const lat = latency(h.entries);
  const achieved = h.status2xx / dur;
  const fraction = h.status2xx > 0 ? Math.min(1, delta.success / h.status2xx) : 0;
  const coreFraction = h.cpuS / h.wallS;
  const underOffered = m.rate !== undefined && achieved < 0.95 * m.rate;
  const perReq = (sec: number): number => (delta.success > 0 ? (sec * 1e6) / delta.success : NaN);
  const cpuThreads: RunRecord['cpu_threads'] = {};
  s.procs.forEach((p, i) => {
    const a = t0[i] as ThreadCpu;
    const b = t1[i] as ThreadCpu;
    cpuThreads[p.role] = { main_us_per_req: perReq(b.main - a.main), workers_us_per_req: perReq(b.workers - a.workers), other_us_per_req: perReq(b.other - a.other) };
  });
  const probe: Record<string, ProbeFigures> = {};
  for (const [role, d] of dumps) if (d) probe[role] = probeFigures(d);
  return {
    offered_rps: m.rate ?? null,
    seconds: dur,
    achieved_rps: achieved,
    success: delta.success,
    success_rps: delta.success / dur,
    success_images_per_s: (delta.success * m.images) / dur,
    success_fraction: fraction,
    failures: { ...delta.failure },
    server_cpu_s: cpu1 - cpu0,
    cpu_us_per_req: delta.success > 0 ? ((cpu1 - cpu0) * 1e6) / delta.success : NaN,
    cpu_threads: cpuThreads,
    latency: { n: lat.n, p50_ms: lat.p50Ms, p99_ms: lat.p99Ms, max_ms: lat.maxMs },
    h2load: {
      cpu_s: h.cpuS,
      core_fraction: coreFraction,
      cpu_us_per_req: h.done > 0 ? (h.cpuS * 1e6) / h.done : NaN,
      done: h.done,
      status_2xx: h.status2xx,
      errored: h.errored,
      timeout: h.timeout,
    },
    probe,
    low_success: fraction < 0.99,
    h2load_busy: coreFraction > 0.5,
    under_offered: underOffered,
    load_generator_limited: coreFraction > 0.5 || underOffered,
    steal_fraction: stealBetween(j0, j1),
  };
}

type Tree = number | boolean | null | string | { [k: string]: Tree };

/**
 * Median over repetitions, field by field: numbers -> median (a key missing in some repetition,
 * e.g. a failure reason, counts 0 there), booleans -> true if any repetition was true.
 */
export function medianOf<T>(records: readonly T[]): T {
  const walk = (xs: readonly Tree[]): Tree => {
    const first = xs.find((x) => x !== null && x !== undefined);
    if (first === undefined || first === null) return null;
    if (xs.some((x) => x === null)) return null; // e.g. offered_rps of a closed loop
    if (typeof first === 'number') return median(xs.map((x) => (typeof x === 'number' ? x : 0)));
    if (typeof first === 'boolean') return xs.some((x) => x === true);
    if (typeof first === 'string') return first;
    const keys = new Set(xs.flatMap((x) => (x && typeof x === 'object' ? Object.keys(x) : [])));
    const out: Record<string, Tree> = {};
    for (const k of keys) out[k] = walk(xs.map((x) => (x && typeof x === 'object' && k in x ? (x[k] as Tree) : 0)));
    return out;
  };
  return walk(records as unknown as Tree[]) as unknown as T;
}
