/**
 * What a replay leaves behind: per-request rows, a summary, perf_analyzer's CSV (its exact header,
 * our columns appended) and an HTML report with plots. Pure functions of the records, so the
 * accounting is testable on fixtures.
 */
import type { ClientStats, RequestRecord } from './types.js';

export interface ReplaySummary {
  readonly requests: number;
  readonly schedule_s: number;
  readonly offered_rps: number;
  /** Answered (ok) within the SLO, as the client measured it / all sent. */
  readonly slo_attainment: number;
  readonly goodput_rps: number;
  readonly answered: number;
  readonly errors: number;
  readonly errors_by_status: Readonly<Record<string, number>>;
  /** Top-1 vs ground-truth labels over every image of the answers within the SLO. */
  readonly served_accuracy: number | null;
  readonly latency_ms: { readonly p50: number | null; readonly p90: number | null; readonly p95: number | null; readonly p99: number | null };
  /** Rejected or dropped because the deadline could not be met (UNAVAILABLE "Request timeout expired"). */
  readonly shed_rate: number;
  readonly downgrade_rate: number;
  readonly deadline_answer_rate: number;
  readonly early_answer_rate: number;
  readonly subnet_mix: Readonly<Record<string, number>>;
  readonly exit_mix: Readonly<Record<string, number>>;
  readonly client_max_behind_ms: number;
  /** How late sends were against the schedule (actual send - scheduled), over all requests. */
  readonly client_behind_ms: { readonly p50: number | null; readonly p99: number | null; readonly max: number };
  readonly client_threads: number | null;
  /** 'grpc-js' or 'h2' (null when unknown). */
  readonly client_transport: string | null;
  /** 'realtime' (SCHED_RR, `--client-priority realtime`) or 'normal' (null when unknown). */
  readonly client_priority: string | null;
  /** The client process's CPU (all its threads) over the run / requests sent. */
  readonly client_cpu_us_per_request: number | null;
  /** The client process's CPU-seconds per wall-second over the run (cores it kept busy). */
  readonly client_cpu_cores: number | null;
  /** The server ran in the client's process (demo, tests): the CPU figures include it. */
  readonly client_cpu_includes_server: boolean | null;
  /** The busiest sender thread's event-loop utilization (0..1). */
  readonly client_thread_busy_max: number | null;
  /** The client, not the server, limited this run (see `clientLimitedReason`). */
  readonly client_limited: boolean;
  readonly client_limited_reason: string | null;
}

/** Behind schedule at p99 beyond this, the server did not see the trace's arrivals (docs/replay.md). */
export const CLIENT_BEHIND_P99_LIMIT_MS = 5;
/** Client CPU beyond this share of the machine's cores, when it shares the machine with the server (docs/replay.md). */
export const CLIENT_CPU_SHARE_LIMIT = 0.25;
/** A sender thread this busy is itself the bottleneck (more threads help). */
const THREAD_SATURATED = 0.9;

export interface ClientFigures {
  readonly behindP99Ms: number | null;
  /** CPU-seconds per wall-second of the client process; null when unknown. */
  readonly cpuCores: number | null;
  readonly machineCores: number;
  readonly sharesMachine: boolean;
  readonly threadBusyMax: number | null;
}

/**
 * Why the client, not the server, limited a run, or null when it did not:
 * - it fell behind its schedule: p99 of (actual send - scheduled send) > CLIENT_BEHIND_P99_LIMIT_MS;
 * - or, when it shares the machine with the server, it used more than CLIENT_CPU_SHARE_LIMIT of
 *   the machine's cores (CPU the server could not have).
 */
export function clientLimitedReason(f: ClientFigures): string | null {
  const reasons: string[] = [];
  if (f.behindP99Ms !== null && f.behindP99Ms > CLIENT_BEHIND_P99_LIMIT_MS) {
    const why =
      f.threadBusyMax === null
        ? ''
        : f.threadBusyMax >= THREAD_SATURATED
          ? `; its busiest sender thread was ${(f.threadBusyMax * 100).toFixed(0)}% busy: add --threads`
          : `; its busiest sender thread was only ${(f.threadBusyMax * 100).toFixed(0)}% busy, so it waited for CPU the machine did not have`;
    reasons.push(`behind schedule: p99 send lateness ${f.behindP99Ms.toFixed(1)} ms > ${CLIENT_BEHIND_P99_LIMIT_MS} ms${why}`);
  }
  const cpuLimit = CLIENT_CPU_SHARE_LIMIT * f.machineCores;
  if (f.sharesMachine && f.cpuCores !== null && f.cpuCores > cpuLimit)
    reasons.push(`client CPU ${f.cpuCores.toFixed(2)} cores > ${cpuLimit.toFixed(2)} (${CLIENT_CPU_SHARE_LIMIT * 100}% of this machine's ${f.machineCores} cores, shared with the server)`);
  return reasons.length === 0 ? null : reasons.join('; ');
}

const r4 = (v: number): number => Math.round(v * 1e4) / 1e4;

function quantiles(sorted: readonly number[]): ReplaySummary['latency_ms'] {
  const q = (p: number): number | null => (sorted.length === 0 ? null : r4(sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] as number));
  return { p50: q(0.5), p90: q(0.9), p95: q(0.95), p99: q(0.99) };
}

export const metSlo = (r: RequestRecord): boolean => r.outcome === 'ok' && r.latencyMs <= r.sloMs;
const isShed = (r: RequestRecord): boolean => r.outcome === 'error' && r.status === 'UNAVAILABLE' && /timeout expired/i.test(r.message);

/**
 * Top-1 against ground truth over every image the answers within the SLO carried (a 16-image
 * request counts 16 times), or null without such answers.
 */
export function servedAccuracy(met: readonly RequestRecord[]): number | null {
  let images = 0;
  let correct = 0;
  for (const r of met) {
    images += r.images;
    correct += r.correct;
  }
  return images === 0 ? null : r4(correct / images);
}

export function summarize(records: readonly RequestRecord[], scheduleS: number, maxBehindMs = 0, client?: ClientStats): ReplaySummary {
  const n = records.length;
  const behind = records.map((r) => r.behindMs).sort((a, b) => a - b);
  const bq = (p: number): number | null => (behind.length === 0 ? null : r4(behind[Math.min(behind.length - 1, Math.floor(p * behind.length))] as number));
  const behindMax = Math.max(maxBehindMs, behind[behind.length - 1] ?? 0);
  const cpuCores = client ? client.cpuUs / 1e6 / Math.max(client.wallS, 1e-9) : null;
  const limited = clientLimitedReason({
    behindP99Ms: bq(0.99),
    cpuCores,
    machineCores: client?.machineCores ?? 1,
    sharesMachine: client?.sharesMachine ?? false,
    threadBusyMax: client?.threadBusyMax ?? null,
  });
  const ok = records.filter((r) => r.outcome === 'ok');
  const met = records.filter(metSlo);
  const errors: Record<string, number> = {};
  for (const r of records) if (r.outcome === 'error') errors[r.status] = (errors[r.status] ?? 0) + 1;
  const mix = (key: (r: RequestRecord) => string): Record<string, number> => {
    const m: Record<string, number> = {};
    for (const r of ok) m[key(r)] = (m[key(r)] ?? 0) + 1;
    for (const k of Object.keys(m)) m[k] = r4((m[k] as number) / Math.max(1, ok.length));
    return m;
  };
  const dur = Math.max(scheduleS, 1e-9);
  return {
    requests: n,
    schedule_s: r4(scheduleS),
    offered_rps: r4(n / dur),
    slo_attainment: n === 0 ? 0 : r4(met.length / n),
    goodput_rps: r4(met.length / dur),
    answered: ok.length,
    errors: n - ok.length,
    errors_by_status: errors,
    served_accuracy: servedAccuracy(met),
    latency_ms: quantiles(ok.map((r) => r.latencyMs).sort((a, b) => a - b)),
    shed_rate: n === 0 ? 0 : r4(records.filter(isShed).length / n),
    downgrade_rate: n === 0 ? 0 : r4(ok.filter((r) => r.downgraded).length / n),
    deadline_answer_rate: n === 0 ? 0 : r4(ok.filter((r) => r.deadlineAnswer).length / n),
    early_answer_rate: n === 0 ? 0 : r4(ok.filter((r) => r.exit !== 'final' && r.exit !== '').length / n),
    subnet_mix: mix((r) => r.subnet),
    exit_mix: mix((r) => r.exit),
    client_max_behind_ms: r4(behindMax),
    client_behind_ms: { p50: bq(0.5), p99: bq(0.99), max: r4(behindMax) },
    client_threads: client?.threads ?? null,
    client_transport: client?.transport ?? null,
    client_priority: client?.priority ?? null,
    client_cpu_us_per_request: client ? Math.round(client.cpuUs / Math.max(1, client.sent)) : null,
    client_cpu_cores: cpuCores === null ? null : r4(cpuCores),
    client_cpu_includes_server: client ? client.cpuIncludesServer : null,
    client_thread_busy_max: client ? r4(client.threadBusyMax) : null,
    client_limited: limited !== null,
    client_limited_reason: limited,
  };
}

const REQUEST_COLUMNS = ['i', 'send_ms', 'behind_ms', 'latency_ms', 'slo_ms', 'class', 'outcome', 'status', 'met_slo', 'subnet', 'exit', 'predicted', 'label', 'images', 'correct', 'queue_us', 'compute_us', 'downgraded', 'deadline_answer', 'message'] as const;

const csvCell = (v: string | number | boolean): string => {
  const s = String(v);
  return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
};

export function requestsCsv(records: readonly RequestRecord[]): string {
  const rows = records.map((r) =>
    [r.i, r4(r.scheduledMs), r4(r.behindMs), r4(r.latencyMs), r.sloMs, r.sloClass, r.outcome, r.status, metSlo(r), r.subnet, r.exit, r.predicted, r.label, r.images, r.correct, r.queueUs, r.computeUs, r.downgraded, r.deadlineAnswer, r.message].map(csvCell).join(','),
  );
  return [REQUEST_COLUMNS.join(','), ...rows].join('\n') + '\n';
}

/** Triton perf_analyzer's CSV header, in order (conventions.md), then ours. */
export const PERF_ANALYZER_HEADER = [
  'Request Rate',
  'Inferences/Second',
  'Client Send',
  'Network+Server Send/Recv',
  'Server Queue',
  'Server Compute Input',
  'Server Compute Infer',
  'Server Compute Output',
  'Client Recv',
  'p50 latency',
  'p90 latency',
  'p95 latency',
  'p99 latency',
] as const;
export const OUR_PERF_COLUMNS = ['SLO Attainment', 'Goodput', 'Shed Rate', 'Downgrade Rate', 'Served Accuracy', 'Exit Histogram'] as const;

/** One row like perf_analyzer's (microseconds), for the whole replay. */
export function perfCsv(records: readonly RequestRecord[], s: ReplaySummary): string {
  const ok = records.filter((r) => r.outcome === 'ok');
  const mean = (f: (r: RequestRecord) => number): number => (ok.length === 0 ? 0 : Math.round(ok.reduce((a, r) => a + f(r), 0) / ok.length));
  const queue = mean((r) => r.queueUs);
  const compute = mean((r) => r.computeUs);
  const total = mean((r) => r.latencyMs * 1000);
  const us = (ms: number | null): number => (ms === null ? 0 : Math.round(ms * 1000));
  const exits = Object.entries(s.exit_mix)
    .map(([k, v]) => `${k}:${v}`)
    .join(';');
  const row = [
    s.offered_rps,
    r4(s.answered / Math.max(s.schedule_s, 1e-9)),
    0, // the client's send time is not measured separately
    Math.max(0, total - queue - compute),
    queue,
    0,
    compute,
    0,
    0,
    us(s.latency_ms.p50),
    us(s.latency_ms.p90),
    us(s.latency_ms.p95),
    us(s.latency_ms.p99),
    s.slo_attainment,
    s.goodput_rps,
    s.shed_rate,
    s.downgrade_rate,
    s.served_accuracy ?? '',
    exits,
  ];
  return [[...PERF_ANALYZER_HEADER, ...OUR_PERF_COLUMNS].join(','), row.map((v) => csvCell(v)).join(',')].join('\n') + '\n';
}
