/**
 * `edge.js --soak MINUTES --server NAME`: one server at --soak-fraction (0.7) of its measured
 * saturation for MINUTES under one long h2load run, sampled every --sample-s (30) s: RSS (/proc),
 * heapUsed, GC pauses and event-loop delay (probe), CPU µs per successful request and latency for
 * that window; then drift figures between the first and the last window.
 */
import { latency, runH2load } from './edge-h2load.js';
import { measure, probeFigures, type ProbeFigures } from './edge-measure.js';
import { counterDelta, readCounters, rssBytes, startServer, type Counters, type ServerName, type SlackserveOptions } from './edge-procs.js';
import { log } from './common.js';

export interface SoakSpec {
  readonly name: ServerName;
  readonly serverOpts: SlackserveOptions;
  readonly body: string;
  readonly images: number;
  readonly minutes: number;
  readonly sampleS: number;
  readonly fraction: number;
  readonly satSeconds: number;
  readonly satClients: number;
  readonly satStreams: number;
  readonly clients: number;
  readonly streams: number;
  readonly warmupS: number;
}

interface Window {
  t_s: number;
  success: number;
  success_rps: number;
  cpu_us_per_req: number;
  rss_mb: number;
  heap_used_mb: number;
  heap_floor_mb: number;
  gc_p99_ms: number;
  gc_max_ms: number;
  el_p99_ms: number;
  latency: { n: number; p50_ms: number; p99_ms: number; max_ms: number };
  probe: Record<string, ProbeFigures>;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function soak(s: SoakSpec): Promise<Record<string, unknown>> {
  log(`soak: starting ${s.name}`);
  const server = await startServer(s.name, s.serverOpts);
  try {
    await measure(server, { body: s.body, images: s.images, seconds: s.warmupS, clients: 1, streams: 64, rate: 200 });
    const sat = await measure(server, { body: s.body, images: s.images, seconds: s.satSeconds, clients: s.satClients, streams: s.satStreams, settleMs: 1000 });
    const rate = Math.max(1, Math.round(s.fraction * sat.success_rps));
    const seconds = Math.round(s.minutes * 60);
    const n = Math.max(1, Math.floor(seconds / s.sampleS));
    log(`soak: saturation ${sat.success_rps.toFixed(0)} ok/s; ${seconds} s at ${rate} req/s, ${n} windows of ${s.sampleS} s`);

    const counters = async (): Promise<Counters | undefined> => (server.metricsPort === undefined ? undefined : readCounters(server.metricsPort));
    const cpu = (): number => server.procs.reduce((a, p) => a + p.cpu(), 0);
    await Promise.all(server.procs.map((p) => p.probe()));
    let c0 = await counters();
    let cpu0 = cpu();
    const t0 = Date.now();
    // 2 s past the last sample, so every window is fully under load
    const abort = new AbortController();
    const run = runH2load({ port: server.grpcPort, body: s.body, seconds: n * s.sampleS + 2, clients: s.clients, streams: s.streams, rate, signal: abort.signal });
    let crashed: { role: string; exit: string; tail: string[] }[] | undefined;
    const raw: { t: number; cpuS: number; success: number | undefined; rss: number; probe: Record<string, ProbeFigures> }[] = [];
    for (let i = 1; i <= n; i++) {
      const due = t0 + i * s.sampleS * 1000;
      while (Date.now() < due && server.procs.every((p) => p.alive)) await sleep(Math.min(500, due - Date.now()));
      if (server.procs.some((p) => !p.alive)) {
        crashed = server.procs.filter((p) => !p.alive).map((p) => ({ role: p.role, exit: p.exit ?? '?', tail: p.tail.slice(-15) }));
        log(`soak: ${crashed.map((c) => c.role).join(', ')} died in window ${i}; stopping`);
        abort.abort();
        break;
      }
      const c1 = await counters();
      const cpu1 = cpu();
      const probe: Record<string, ProbeFigures> = {};
      for (const p of server.procs) {
        const d = await p.probe();
        if (d) probe[p.role] = probeFigures(d);
      }
      raw.push({ t: Date.now(), cpuS: cpu1 - cpu0, success: c0 && c1 ? counterDelta(c0, c1).success : undefined, rss: server.procs.reduce((a, p) => a + rssBytes(p.pid), 0), probe });
      c0 = c1;
      cpu0 = cpu1;
      log(`soak: window ${i}/${n}: ${(raw[raw.length - 1]!.rss / 2 ** 20).toFixed(0)} MiB RSS`);
    }
    const h = await run;
    const windows: Window[] = raw.map((w, i) => {
      const from = (i === 0 ? t0 : raw[i - 1]!.t) * 1000;
      const inWin = h.entries.filter((e) => e.startUs >= from && e.startUs < w.t * 1000);
      const success = w.success ?? inWin.filter((e) => e.status === 200).length; // echo: every 200
      const span = (w.t * 1000 - from) / 1e6;
      const roles = Object.values(w.probe);
      const lat = latency(inWin);
      return {
        t_s: (w.t - t0) / 1000,
        success,
        success_rps: success / span,
        cpu_us_per_req: success > 0 ? (w.cpuS * 1e6) / success : NaN,
        rss_mb: w.rss / 2 ** 20,
        heap_used_mb: roles.reduce((a, p) => a + p.heap_used_mb, 0),
        heap_floor_mb: roles.reduce((a, p) => a + p.heap_floor_mb, 0),
        gc_p99_ms: Math.max(0, ...roles.map((p) => p.gc_p99_ms)),
        gc_max_ms: Math.max(0, ...roles.map((p) => p.gc_max_ms)),
        el_p99_ms: Math.max(0, ...roles.map((p) => p.el_p99_ms)),
        latency: { n: lat.n, p50_ms: lat.p50Ms, p99_ms: lat.p99Ms, max_ms: lat.maxMs },
        probe: w.probe,
      };
    });
    const rel = (a: number | undefined, b: number | undefined): number => (a === undefined || b === undefined ? NaN : (b - a) / a);
    const first = windows[0];
    const last = windows[windows.length - 1];
    return {
      server: s.name,
      images: s.images,
      minutes: s.minutes,
      sample_s: s.sampleS,
      saturation_rps: sat.success_rps,
      offered_rps: rate,
      fraction_of_saturation: s.fraction,
      h2load: { done: h.done, status_2xx: h.status2xx, errored: h.errored, core_fraction: h.cpuS / h.wallS },
      drift: {
        cpu_per_req: rel(first?.cpu_us_per_req, last?.cpu_us_per_req),
        rss_growth_pct: 100 * rel(first?.rss_mb, last?.rss_mb),
        heap_growth_pct: 100 * rel(first?.heap_used_mb, last?.heap_used_mb),
        heap_floor_growth_pct: 100 * rel(first?.heap_floor_mb, last?.heap_floor_mb),
        gc_p99_first_ms: first?.gc_p99_ms ?? null,
        gc_p99_last_ms: last?.gc_p99_ms ?? null,
      },
      ...(crashed ? { crashed } : {}),
      method: [
        'one h2load run at offered_rps (fraction_of_saturation x the closed-loop saturation measured first), sampled every sample_s',
        'per window: cpu_us_per_req = utime+stime of every server process / Prometheus successes (echo: HTTP 200s); rss_mb = VmRSS summed over the processes; heap_used_mb = the probe\'s heapUsed at the sample, heap_floor_mb = the least of its 1 Hz heapUsed samples in the window (post-GC floor), each summed over the processes; gc/el = worst main thread of the server\'s processes',
        'drift: cpu_per_req = (last - first) / first; rss/heap/heap-floor growth = 100 x (last - first) / first (heapUsed at one instant swings with the GC cycle; the floor is the leak signal)',
      ],
      windows,
    };
  } finally {
    await server.stop();
  }
}
