/**
 * `edge.js --steady SECONDS`: the fixed-rate figures at steady state. The main bench keeps one
 * server process for every run (warm-ups of every image count first, then rates and saturation
 * per rep), so a fixed-rate run inherits the garbage of the runs before it: a 16-image warm-up or
 * a saturation run leaves the old generation near its limit, and the full GC that follows lands
 * in the next 5 s run, where with ~20 pauses in all it *is* the p99. Here each repetition of each
 * server and image count gets a fresh server, a warm-up at the same rate, and one long run at the
 * CPU rate (--cpu-rate, --cpu-rate-multi): the GC pauses, latency and CPU of that load alone.
 * Also reported: the hypervisor's steal time over each run (/proc/stat), which on this VM has
 * reached 10% under load and lengthens every pause.
 */
import { log, median } from './common.js';
import { measure, type RunRecord } from './edge-measure.js';
import { startServer, type ServerName, type SlackserveOptions } from './edge-procs.js';

export interface SteadySpec {
  readonly names: readonly ServerName[];
  readonly serverOpts: SlackserveOptions;
  readonly bodies: ReadonlyMap<number, { readonly file: string }>;
  readonly rateFor: (images: number) => number;
  readonly seconds: number;
  readonly warmupS: number;
  readonly reps: number;
  readonly clients: number;
  readonly streams: number;
}

interface SteadyRun {
  cpu_us_per_req: number;
  success: number;
  latency: RunRecord['latency'];
  gc_count: number;
  gc_major_count: number;
  gc_p99_ms: number;
  gc_max_ms: number;
  el_p99_ms: number;
  steal_fraction: number;
  load_generator_limited: boolean;
}

async function oneRun(spec: SteadySpec, name: ServerName, images: number): Promise<SteadyRun> {
  const s = await startServer(name, spec.serverOpts);
  try {
    const body = spec.bodies.get(images)!.file;
    const rate = spec.rateFor(images);
    const base = { body, images, clients: spec.clients, streams: spec.streams, rate };
    await measure(s, { ...base, seconds: spec.warmupS });
    const r = await measure(s, { ...base, seconds: spec.seconds });
    // the process that holds the request path: the echo, the embedded server, the split's frontend
    const main = r.probe['echo'] ?? r.probe['h2echo'] ?? r.probe['serve'] ?? r.probe['frontend'];
    return {
      cpu_us_per_req: r.cpu_us_per_req,
      success: r.success,
      latency: r.latency,
      gc_count: main?.gc_count ?? NaN,
      gc_major_count: main?.gc_major_count ?? NaN,
      gc_p99_ms: main?.gc_p99_ms ?? NaN,
      gc_max_ms: main?.gc_max_ms ?? NaN,
      el_p99_ms: main?.el_p99_ms ?? NaN,
      steal_fraction: r.steal_fraction,
      load_generator_limited: r.load_generator_limited,
    };
  } finally {
    await s.stop();
  }
}

/** Per image count, per server: every repetition and the medians; ratios to the echo's medians. */
export async function steady(spec: SteadySpec): Promise<Record<string, Record<string, unknown>>> {
  const out: Record<string, Record<string, unknown>> = {};
  for (const [images] of spec.bodies) {
    const per = new Map<ServerName, SteadyRun[]>(spec.names.map((n) => [n, []]));
    for (let rep = 1; rep <= spec.reps; rep++)
      for (const n of spec.names) {
        const r = await oneRun(spec, n, images);
        per.get(n)!.push(r);
        log(
          `steady rep ${rep}/${spec.reps} ${n} images=${images} @ ${spec.rateFor(images)} req/s for ${spec.seconds} s: cpu ${r.cpu_us_per_req.toFixed(0)} µs/req, ` +
            `GC ${r.gc_count} (${r.gc_major_count} full) p99 ${r.gc_p99_ms.toFixed(2)} max ${r.gc_max_ms.toFixed(2)} ms, latency p99 ${r.latency.p99_ms.toFixed(1)} max ${r.latency.max_ms.toFixed(1)} ms, steal ${(100 * r.steal_fraction).toFixed(1)}%${r.load_generator_limited ? ' [LOAD-GENERATOR-LIMITED]' : ''}`,
        );
      }
    const med = (n: ServerName, f: (r: SteadyRun) => number): number => median(per.get(n)!.map(f));
    const echoCpu = spec.names.includes('echo') ? med('echo', (r) => r.cpu_us_per_req) : NaN;
    out[String(images)] = Object.fromEntries(
      spec.names.map((n) => [
        n,
        {
          offered_rps: spec.rateFor(images),
          seconds: spec.seconds,
          cpu_us_per_req: med(n, (r) => r.cpu_us_per_req),
          cpu_ratio: med(n, (r) => r.cpu_us_per_req) / echoCpu,
          gc_p99_ms: med(n, (r) => r.gc_p99_ms),
          gc_max_ms: med(n, (r) => r.gc_max_ms),
          gc_major_count: med(n, (r) => r.gc_major_count),
          latency_p99_ms: med(n, (r) => r.latency.p99_ms),
          latency_max_ms: med(n, (r) => r.latency.max_ms),
          steal_fraction: med(n, (r) => r.steal_fraction),
          load_generator_limited: per.get(n)!.some((r) => r.load_generator_limited),
          per_rep: per.get(n),
        },
      ]),
    );
  }
  return out;
}
