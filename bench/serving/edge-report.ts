/** The JSON of bench/serving/edge.ts: medians per server and image count, ratios to the echo, warnings. */
import { medianOf, type RunRecord } from './edge-measure.js';
import type { ServerName } from './edge-procs.js';

export interface Crash {
  readonly server: ServerName;
  readonly images: number;
  /** The offered rate, or 'sat'. */
  readonly run: string;
  readonly rep: number;
  readonly error: string;
  readonly exits: readonly { role: string; exit: string; tail: readonly string[] }[];
}

export const round = (x: number, d = 3): number => (Number.isFinite(x) ? Number(x.toFixed(d)) : x);
export const ratio = (a: number | undefined, b: number | undefined): number | null =>
  a === undefined || b === undefined || !Number.isFinite(a) || !Number.isFinite(b) || b === 0 ? null : round(a / b);
export const roundTree = (t: unknown): unknown =>
  typeof t === 'number'
    ? Number.isFinite(t)
      ? round(t)
      : null
    : Array.isArray(t)
      ? t.map(roundTree)
      : t && typeof t === 'object'
        ? Object.fromEntries(Object.entries(t).map(([k, v]) => [k, roundTree(v)]))
        : t;

export const METHOD: readonly string[] = [
  'cpu_us_per_req: utime+stime (/proc/<pid>/stat, every process of the server: split = frontend + worker, threads included) over the run / successful requests, at the fixed offered rate cpu.offered_rps',
  "success: the frontend's slackserve_inference_request_success delta (/metrics, read before and after the run); echo: every HTTP 200. success_fraction = success / h2load's HTTP-200 answers (capped at 1); low_success when under 0.99",
  'saturation: closed loop (h2load -c clients -m max_streams, no --rps) for --seconds; successful answers per second (images_per_s = that x images)',
  'latency: h2load --log-file over every HTTP-200 answer (grpc-status is invisible to h2load, so fast rejections count too; see success_fraction); h2load times from the moment it sends a request, so a backlog inside h2load (more than -m in flight) is not in it',
  'probe (per process role): main-thread GC pauses (PerformanceObserver "gc", wall time, so a descheduled GC thread on a busy machine lengthens them) and event-loop delay (monitorEventLoopDelay, 1 ms resolution: each sample spans the 1 ms timer, so an idle loop reads about 1.07 ms) inside the server process over the run, RSS and heapUsed at its end. Its 1 kHz timer costs about 14 ms CPU per second per process (measured idle), which is in cpu_us_per_req (about 55 µs/req per process at 250 req/s, 14 at 1000); --probe off leaves it out',
  'cpu_threads (per process role): the same CPU by thread, from /proc/<pid>/task/<tid>/stat: the main thread, the JavaScript worker threads (the executor threads that run onnxruntime; their ids written by the probe) and the rest (V8 and libuv threads)',
  'floor (per image count, when echo, h2echo and embedded ran): the least CPU per request a server on node:http2 that runs this model could spend at the CPU rate, measured in this run: the bare node:http2 echo (h2-echo.ts: reads the body, writes a fixed framed answer; no gRPC library, no protobuf) plus the embedded server\'s executor threads (onnxruntime\'s runs and the thread\'s hand-off), as a ratio to the grpc-js echo; issue 11\'s goal is embedded <= 1.3x the echo',
  "h2load: its user+sys CPU (bash `times`) / its completed requests; load_generator_limited = h2load over 50% of a core (h2load_busy) or achieved HTTP-200/s under 95% of the offered rate (under_offered, which a saturated server also causes)",
  'figures are medians over reps (field by field; flags true if any rep); ratios are ratios of those medians to the echo measured in the same run; runs during which a server process died are left out and listed under crashes',
  'steal_fraction: the hypervisor\'s steal time over a run (/proc/stat, all CPUs); it slows the echo and the server alike but not equally, so runs over 5% are listed in the warnings',
];

export interface ReportInput {
  readonly names: readonly ServerName[];
  readonly imageCounts: readonly number[];
  readonly runs: ReadonlyMap<string, RunRecord[]>;
  readonly crashes: readonly Crash[];
  readonly ratesFor: (k: number) => number[];
  readonly cpuRateFor: (k: number) => number;
}

/** Steal time over this share of a run's CPU time is reported as a warning. */
const STEAL_WARN = 0.05;

/** Issue 11's goal: the embedded server's CPU per request at most this many times the grpc-js echo's. */
export const CPU_GOAL_RATIO = 1.3;

export interface Floor {
  readonly offered_rps: number;
  readonly echo_cpu_us_per_req: number;
  readonly h2echo_cpu_us_per_req: number;
  readonly h2echo_ratio_to_echo: number | null;
  readonly executor_threads_cpu_us_per_req: number;
  readonly floor_cpu_us_per_req: number;
  readonly floor_ratio_to_echo: number | null;
  readonly embedded_cpu_us_per_req: number;
  readonly embedded_ratio_to_echo: number | null;
  readonly embedded_main_thread_us_per_req: number;
  readonly embedded_other_threads_us_per_req: number;
  readonly goal_ratio: number;
  /** Whether the floor itself is at most the goal: false means no server on this stack that runs this model can meet it here. */
  readonly goal_above_floor: boolean;
}

/** The floor of one image count (see METHOD), or undefined when a run it needs is missing. */
export function floorOf(cpuRate: number, echo: RunRecord | undefined, h2echo: RunRecord | undefined, embedded: RunRecord | undefined): Floor | undefined {
  const threads = embedded?.cpu_threads['serve'];
  if (!echo || !h2echo || !embedded || !threads) return undefined;
  const floor = h2echo.cpu_us_per_req + threads.workers_us_per_req;
  const r = ratio(floor, echo.cpu_us_per_req);
  return {
    offered_rps: cpuRate,
    echo_cpu_us_per_req: echo.cpu_us_per_req,
    h2echo_cpu_us_per_req: h2echo.cpu_us_per_req,
    h2echo_ratio_to_echo: ratio(h2echo.cpu_us_per_req, echo.cpu_us_per_req),
    executor_threads_cpu_us_per_req: threads.workers_us_per_req,
    floor_cpu_us_per_req: floor,
    floor_ratio_to_echo: r,
    embedded_cpu_us_per_req: embedded.cpu_us_per_req,
    embedded_ratio_to_echo: ratio(embedded.cpu_us_per_req, echo.cpu_us_per_req),
    embedded_main_thread_us_per_req: threads.main_us_per_req,
    embedded_other_threads_us_per_req: threads.other_us_per_req,
    goal_ratio: CPU_GOAL_RATIO,
    goal_above_floor: r !== null && r <= CPU_GOAL_RATIO,
  };
}

export function report(i: ReportInput): { results: Record<string, Record<string, unknown>>; floor: Record<string, Floor>; warnings: string[] } {
  const warnings: string[] = [];
  const results: Record<string, Record<string, unknown>> = {};
  const floors: Record<string, Floor> = {};
  for (const k of i.imageCounts) {
    const all = (n: string, key: string | number): RunRecord[] => i.runs.get(`${n}/${k}/${key}`) ?? [];
    const med = (n: string, key: string | number): RunRecord | undefined => (all(n, key).length > 0 ? medianOf(all(n, key)) : undefined);
    const crashed = (n: string, key: string | number): number => i.crashes.filter((c) => c.server === n && c.images === k && c.run === String(key)).length;
    const cpuRate = i.cpuRateFor(k);
    const echoSat = med('echo', 'sat');
    const echoCpu = med('echo', cpuRate);
    const embSat = med('embedded', 'sat');
    const embCpu = med('embedded', cpuRate);
    const perServer: Record<string, unknown> = {};
    for (const n of i.names) {
      const sat = med(n, 'sat');
      const atCpu = med(n, cpuRate);
      const rates = i.ratesFor(k).map((rate) => {
        const r = med(n, rate);
        const e = med('echo', rate);
        if (!r) return { offered_rps: rate, measured_reps: 0, crashed_reps: crashed(n, rate) };
        return {
          ...r,
          measured_reps: all(n, rate).length,
          crashed_reps: crashed(n, rate),
          ratio_to_echo: {
            cpu: ratio(r.cpu_us_per_req, e?.cpu_us_per_req),
            p50: ratio(r.latency.p50_ms, e?.latency.p50_ms),
            p99: ratio(r.latency.p99_ms, e?.latency.p99_ms),
            max: ratio(r.latency.max_ms, e?.latency.max_ms),
          },
        };
      });
      for (const r of [...i.ratesFor(k).map((rate) => med(n, rate)), sat]) {
        if (!r) continue;
        const at = r.offered_rps === null ? 'saturation' : `${r.offered_rps} req/s`;
        if (r.low_success) warnings.push(`${n} images=${k} at ${at}: only ${(100 * r.success_fraction).toFixed(1)}% of HTTP-200 answers were successes`);
        if (r.load_generator_limited)
          warnings.push(
            `${n} images=${k} at ${at}: load generator limited (h2load ${(100 * r.h2load.core_fraction).toFixed(0)}% of a core, achieved ${r.achieved_rps.toFixed(0)} req/s${r.offered_rps === null ? '' : ` of ${r.offered_rps}`})`,
          );
      }
      const stolen = [...i.ratesFor(k).flatMap((rate) => all(n, rate)), ...all(n, 'sat')].filter((r) => r.steal_fraction > STEAL_WARN);
      if (stolen.length > 0)
        warnings.push(`${n} images=${k}: ${stolen.length} run(s) with the hypervisor stealing over ${100 * STEAL_WARN}% of CPU time (up to ${(100 * Math.max(...stolen.map((r) => r.steal_fraction))).toFixed(1)}%): their figures are the machine's, not the server's`);
      perServer[n] = {
        cpu: atCpu
          ? {
              offered_rps: cpuRate,
              cpu_us_per_req: atCpu.cpu_us_per_req,
              cpu_ratio: ratio(atCpu.cpu_us_per_req, echoCpu?.cpu_us_per_req),
              ...(n === 'split' ? { split_vs_embedded_cpu_ratio: ratio(atCpu.cpu_us_per_req, embCpu?.cpu_us_per_req) } : {}),
              success: atCpu.success,
              success_fraction: atCpu.success_fraction,
              low_success: atCpu.low_success,
              h2load_cpu_us_per_req: atCpu.h2load.cpu_us_per_req,
              load_generator_limited: atCpu.load_generator_limited,
              per_rep: all(n, cpuRate).map((r) => r.cpu_us_per_req),
              steal_per_rep: all(n, cpuRate).map((r) => r.steal_fraction),
            }
          : { offered_rps: cpuRate, measured_reps: 0, crashed_reps: crashed(n, cpuRate) },
        saturation: sat
          ? {
              rps: sat.success_rps,
              images_per_s: sat.success_images_per_s,
              saturation_ratio: ratio(sat.success_rps, echoSat?.success_rps),
              ...(n === 'split' ? { split_vs_embedded_ratio: ratio(sat.success_rps, embSat?.success_rps) } : {}),
              per_rep: all(n, 'sat').map((r) => r.success_rps),
              steal_per_rep: all(n, 'sat').map((r) => r.steal_fraction),
              crashed_reps: crashed(n, 'sat'),
              run: sat,
            }
          : { measured_reps: 0, crashed_reps: crashed(n, 'sat') },
        rates,
      };
    }
    results[String(k)] = perServer;
    const floor = floorOf(cpuRate, echoCpu, med('h2echo', cpuRate), embCpu);
    if (floor) floors[String(k)] = floor;
  }
  return { results, floor: floors, warnings };
}
