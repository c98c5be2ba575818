/**
 * Edge benchmark: the gRPC request path of slackserve against the stack's floor. Four servers,
 * each in its own process(es) on 127.0.0.1 and free ports, all driven by h2load with one
 * pre-encoded gRPC body (ModelInferRequest for fmnist-resnet, `--images` real test images as FP32
 * raw_input_contents, `slackserve.latency_budget_ms` = --budget-ms):
 *   echo      bare @grpc/grpc-js on proto/grpc_service.proto, fixed answer (grpc-echo.ts): the reference
 *   h2echo    bare node:http2, the same fixed answer framed once, body read and dropped (h2-echo.ts):
 *             the floor below grpc-js; with the embedded server's executor threads it gives `floor`
 *   embedded  `slackserve serve --policy static-smallest` (in-process queue)
 *   split     `slackserve frontend` + one `slackserve worker` on Redis (own key prefix)
 * Per server and image count: CPU µs per successful request at a fixed rate (/proc utime+stime of
 * every server process / Prometheus successes), saturation (closed loop, successes/s), latency
 * p50/p99/max at fixed rates (h2load --log-file), main-thread GC pauses and event-loop delay from
 * the preloaded probe (probe.ts), h2load's own CPU; medians over --reps, ratios to the echo of the
 * same run. JSON on stdout, progress on stderr. `--soak MINUTES` runs edge-soak.ts instead.
 *
 * Usage (no Makefile target; needs `npm run build`, Redis on 127.0.0.1:6379 for split, h2load —
 * installed with apt-get if missing):
 *   npx tsc -p tsconfig.bench.json
 *   node dist-bench/bench/serving/edge.js --reps 3 --seconds 10 --out     # bench/results/serving-edge.json
 *   node dist-bench/bench/serving/edge.js --images 16 --servers echo,embedded --reps 1 --seconds 5
 *   node dist-bench/bench/serving/edge.js --soak 10 --server embedded --out  # serving-edge-soak.json
 * Flags: --servers echo,h2echo,embedded,split  --images 1,16  --reps 3  --seconds 10 (each run)
 *   --rates 250,500,1000 (1 image) --rates-multi 75,150,300 (more images)  --cpu-rate 1000
 *   --cpu-rate-multi 300 (CPU/request is reported there; added to the rates)  --clients 1
 *   --streams 64 (fixed-rate h2load -c/-m)  --sat-clients 4 --sat-streams auto (max(4, 64/images))
 *   --budget-ms 1000  --policy static-smallest  --threads N  --redis URL  --warmup-s 3
 *   --restart on --max-restarts 10 (a server that dies mid-run is recorded under `crashes` and
 *   started again for its next run)  --cli PATH (another checkout's bin/slackserve.js)
 *   --probe on|off  --out (write bench/results/...)  soak: --soak MIN --server NAME --sample-s 30
 *   steady: --steady SECONDS (a fresh server per rep, warm-up, one long run at the CPU rate;
 *   edge-steady.ts)
 *   --soak-fraction 0.7 (the first of --images is used)
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname } from 'node:path';
import { parseArgs } from 'node:util';
import { log } from './common.js';
import { ensureH2load, writeBody } from './edge-h2load.js';
import { measure, type MeasureSpec, type RunRecord } from './edge-measure.js';
import { redisReachable, SERVER_NAMES, startServer, type Server, type ServerName } from './edge-procs.js';
import { METHOD, report, round, roundTree, type Crash } from './edge-report.js';
import { soak } from './edge-soak.js';
import { steady } from './edge-steady.js';

const { values: opt } = parseArgs({
  options: {
    servers: { type: 'string', default: 'echo,h2echo,embedded,split' },
    images: { type: 'string', default: '1,16' },
    reps: { type: 'string', default: '3' },
    seconds: { type: 'string', default: '10' },
    /** Fixed offered rates (req/s) for 1-image requests, and for multi-image ones. */
    rates: { type: 'string', default: '250,500,1000' },
    'rates-multi': { type: 'string', default: '75,150,300' },
    /** The rate CPU µs/request is reported at (added to the rates if missing). */
    'cpu-rate': { type: 'string', default: '1000' },
    'cpu-rate-multi': { type: 'string', default: '300' },
    clients: { type: 'string', default: '1' },
    streams: { type: 'string', default: '64' },
    'sat-clients': { type: 'string', default: '4' },
    /** Streams per client in the closed loop; auto = max(4, round(64 / images)). */
    'sat-streams': { type: 'string', default: 'auto' },
    'budget-ms': { type: 'string', default: '1000' },
    policy: { type: 'string', default: 'static-smallest' },
    threads: { type: 'string', default: '' },
    redis: { type: 'string', default: 'redis://127.0.0.1:6379' },
    'warmup-s': { type: 'string', default: '3' },
    out: { type: 'boolean', default: false },
    soak: { type: 'string', default: '' },
    /** Seconds: fresh server per rep, warm-up, one long run at the CPU rate (edge-steady.ts). */
    steady: { type: 'string', default: '' },
    server: { type: 'string', default: 'embedded' },
    'sample-s': { type: 'string', default: '30' },
    /** on: a server that dies during a run is started afresh (the run is recorded under crashes). */
    restart: { type: 'string', default: 'on' },
    'max-restarts': { type: 'string', default: '10' },
    /** The slackserve entry point the embedded and split servers run (another checkout's bin/slackserve.js). */
    cli: { type: 'string', default: 'bin/slackserve.js' },
    /** off: no probe preloaded (no GC/event-loop figures; saves its ~14 ms CPU/s per process). */
    probe: { type: 'string', default: 'on' },
    'soak-fraction': { type: 'string', default: '0.7' },
  },
});

const list = (s: string): number[] => s.split(',').filter(Boolean).map(Number);

function writeOut(path: string, json: unknown): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, JSON.stringify(json, null, 1) + '\n');
  log(`wrote ${path}`);
}

ensureH2load();
const serverOpts = { policy: opt.policy, redisUrl: opt.redis, threads: opt.threads ? Number(opt.threads) : undefined, cli: opt.cli, probe: opt.probe === 'on' };
const budgetMs = Number(opt['budget-ms']);
const seconds = Number(opt.seconds);
const command = `node dist-bench/bench/serving/edge.js ${process.argv.slice(2).join(' ')}`.trim();
const host = { cpus: cpus().length, loadavg_start: loadavg().map((x) => round(x, 2)) };

if (opt.soak) {
  const name = opt.server as ServerName;
  if (!SERVER_NAMES.includes(name)) throw new Error(`--server: one of ${SERVER_NAMES.join(', ')}`);
  const images = list(opt.images)[0] ?? 1;
  const body = writeBody(images, budgetMs);
  const result = await soak({
    name,
    serverOpts,
    body: body.file,
    images,
    minutes: Number(opt.soak),
    sampleS: Number(opt['sample-s']),
    fraction: Number(opt['soak-fraction']),
    satSeconds: seconds,
    satClients: Number(opt['sat-clients']),
    satStreams: opt['sat-streams'] === 'auto' ? Math.max(4, Math.round(64 / images)) : Number(opt['sat-streams']),
    streams: Number(opt.streams),
    clients: Number(opt.clients),
    warmupS: Number(opt['warmup-s']),
  });
  rmSync(body.file, { force: true });
  const json = roundTree({ bench: 'serving-edge-soak', date: new Date().toISOString(), command, host: { ...host, loadavg_end: loadavg().map((x) => round(x, 2)) }, budget_ms: budgetMs, policy: opt.policy, ...result });
  process.stdout.write(JSON.stringify(json, null, 1) + '\n');
  if (opt.out) writeOut('bench/results/serving-edge-soak.json', json);
  process.exit(0);
}

const imageCounts = list(opt.images);
const reps = Number(opt.reps);
const cpuRateOf = (k: number): number => Number(k === 1 ? opt['cpu-rate'] : opt['cpu-rate-multi']);
let names = opt.servers.split(',').filter(Boolean) as ServerName[];
for (const n of names) if (!SERVER_NAMES.includes(n)) throw new Error(`--servers: unknown ${n}`);

if (opt.steady) {
  const bodies = new Map(imageCounts.map((k) => [k, writeBody(k, budgetMs)]));
  const results = await steady({
    names,
    serverOpts,
    bodies,
    rateFor: cpuRateOf,
    seconds: Number(opt.steady),
    warmupS: Number(opt['warmup-s']),
    reps,
    clients: Number(opt.clients),
    streams: Number(opt.streams),
  });
  for (const b of bodies.values()) rmSync(b.file, { force: true });
  const method = [
    'each rep of each server and image count: a fresh server, a warm-up of --warmup-s at the CPU rate, then one run of --steady seconds at that rate (h2load --rps, -c clients -m streams)',
    'gc_*: the main thread of the process holding the request path (echo, serve, frontend), PerformanceObserver "gc" (wall time); latency: h2load --log-file; cpu: all processes and threads of the server / successful answers',
    'steal_fraction: the hypervisor\'s steal time over the run, from /proc/stat (all CPUs); it lengthens GC pauses and latency alike',
    'figures are medians over reps; cpu_ratio is the ratio to the echo\'s median of the same run',
  ];
  const json = roundTree({ bench: 'serving-edge-steady', date: new Date().toISOString(), command, host: { ...host, loadavg_end: loadavg().map((x) => round(x, 2)) }, budget_ms: budgetMs, policy: opt.policy, method, results });
  process.stdout.write(JSON.stringify(json, null, 1) + '\n');
  if (opt.out) writeOut('bench/results/serving-edge-steady.json', json);
  process.exit(0);
}
const warnings: string[] = [];
if (names.includes('split') && !(await redisReachable(opt.redis))) {
  warnings.push(`split skipped: no Redis at ${opt.redis}`);
  names = names.filter((n) => n !== 'split');
}
const ratesFor = (k: number): number[] => {
  const rs = list(k === 1 ? opt.rates : opt['rates-multi']);
  return [...new Set([...rs, cpuRateOf(k)])].sort((a, b) => a - b);
};
const satStreams = (k: number): number => (opt['sat-streams'] === 'auto' ? Math.max(4, Math.round(64 / k)) : Number(opt['sat-streams']));

const bodies = new Map(imageCounts.map((k) => [k, writeBody(k, budgetMs)]));
const live = new Map<ServerName, Server>();
const runs = new Map<string, RunRecord[]>(); // `${server}/${images}/${rate|sat}`
const crashes: Crash[] = [];

const restarts = new Map<ServerName, number>();
const dropped = new Set<ServerName>();

/** Records a server that died (or a run that failed), stops what is left of it. */
async function fail(n: ServerName, s: Server, k: number, key: string, rep: number, e: unknown): Promise<void> {
  await new Promise((r) => setTimeout(r, 500)); // let exit events arrive
  const exits = s.procs.filter((p) => !p.alive).map((p) => ({ role: p.role, exit: p.exit ?? '?', tail: p.tail.slice(-15) }));
  const why = (l: readonly string[]): string => l.find((x) => /Error/.test(x))?.trim() ?? '';
  const error = exits.length > 0 ? exits.map((x) => `${x.role} exited (${x.exit}): ${why(x.tail)}`).join('; ') : (e as Error).message.slice(0, 500);
  crashes.push({ server: n, images: k, run: key, rep, error, exits });
  warnings.push(`${n} images=${k} ${key === 'sat' ? 'saturation' : key === 'warmup' ? 'warm-up' : `at ${key} req/s`}${rep > 0 ? ` rep ${rep}` : ''}: ${error}`);
  log(`${n} images=${k} ${key}: FAILED (${error.slice(0, 200)})`);
  live.delete(n);
  await s.stop().catch(() => undefined);
}

/** Starts a server and warms it up; one that dies meanwhile is started again (failures count toward --max-restarts). */
async function start(n: ServerName): Promise<void> {
  for (;;) {
    log(`starting ${n}`);
    let s: Server;
    try {
      s = await startServer(n, serverOpts);
    } catch (e) {
      warnings.push(`${n}: did not start: ${String(e).slice(0, 300)}`);
      dropped.add(n);
      return;
    }
    live.set(n, s);
    let k = 0;
    try {
      for (k of imageCounts) {
        log(`warm-up ${n} images=${k}: ${opt['warmup-s']} s at ${ratesFor(k)[0]} req/s`);
        await measure(s, { body: bodies.get(k)!.file, images: k, seconds: Number(opt['warmup-s']), clients: 1, streams: 64, rate: ratesFor(k)[0] });
        if (s.procs.some((p) => !p.alive)) throw new Error('a server process exited during the warm-up');
      }
      return;
    } catch (e) {
      await fail(n, s, k, 'warmup', 0, e);
    }
    if (!failed(n)) return;
  }
}

/** Counts a failure of `n`; false once it may not be started again (then it is dropped). */
function failed(n: ServerName): boolean {
  const c = (restarts.get(n) ?? 0) + 1;
  restarts.set(n, c);
  if (opt.restart === 'on' && c <= Number(opt['max-restarts'])) return true;
  dropped.add(n);
  warnings.push(`${n}: dropped after ${c} failure(s) (--restart ${opt.restart}, --max-restarts ${opt['max-restarts']})`);
  return false;
}

/** One measurement; a server that dies during it is recorded and stopped, and (--restart on) started afresh for its next run. */
async function run(n: ServerName, k: number, key: string, rep: number, spec: MeasureSpec): Promise<void> {
  if (!live.has(n) && !dropped.has(n)) await start(n); // after a failure: started again only when next needed
  const s = live.get(n);
  if (!s) return;
  try {
    const r = await measure(s, spec);
    if (s.procs.some((p) => !p.alive)) throw new Error('a server process exited during the run');
    runs.set(`${n}/${k}/${key}`, [...(runs.get(`${n}/${k}/${key}`) ?? []), r]);
    log(
      `rep ${rep + 1}/${reps} ${n} images=${k} ${key === 'sat' ? 'saturation' : `rate=${key}`}: ok ${r.success_rps.toFixed(0)}/s (${(100 * r.success_fraction).toFixed(1)}%), ` +
        `cpu ${r.cpu_us_per_req.toFixed(0)} µs/req, p50 ${r.latency.p50_ms.toFixed(2)} p99 ${r.latency.p99_ms.toFixed(2)} max ${r.latency.max_ms.toFixed(1)} ms, h2load ${(100 * r.h2load.core_fraction).toFixed(0)}% core`,
    );
  } catch (e) {
    await fail(n, s, k, key, rep + 1, e);
    failed(n);
  }
}

try {
  for (const n of names) await start(n);
  for (let rep = 0; rep < reps; rep++)
    for (const k of imageCounts) {
      const body = bodies.get(k)!.file;
      for (const rate of ratesFor(k))
        for (const n of names) await run(n, k, String(rate), rep, { body, images: k, seconds, clients: Number(opt.clients), streams: Number(opt.streams), rate });
      for (const n of names) await run(n, k, 'sat', rep, { body, images: k, seconds, clients: Number(opt['sat-clients']), streams: satStreams(k), settleMs: 1000 });
    }
} finally {
  for (const s of live.values()) await s.stop();
  for (const b of bodies.values()) rmSync(b.file, { force: true });
}

const { results, floor, warnings: found } = report({ names, imageCounts, runs, crashes, ratesFor, cpuRateFor: cpuRateOf });
const json = roundTree({
  bench: 'serving-edge',
  date: new Date().toISOString(),
  command,
  host: { ...host, loadavg_end: loadavg().map((x) => round(x, 2)) },
  settings: {
    servers: names,
    images: imageCounts,
    reps,
    seconds,
    rates: Object.fromEntries(imageCounts.map((k) => [k, ratesFor(k)])),
    cpu_rate: Object.fromEntries(imageCounts.map((k) => [k, cpuRateOf(k)])),
    fixed_rate_h2load: { clients: Number(opt.clients), max_streams: Number(opt.streams) },
    saturation_h2load: { clients: Number(opt['sat-clients']), max_streams: Object.fromEntries(imageCounts.map((k) => [k, satStreams(k)])) },
    budget_ms: budgetMs,
    policy: opt.policy,
    cli: opt.cli,
    probe: opt.probe,
    body_bytes: Object.fromEntries([...bodies].map(([k, b]) => [k, b.bytes])),
    restart_after_crash: opt.restart,
    max_restarts: Number(opt['max-restarts']),
    restarts: Object.fromEntries(restarts),
  },
  method: METHOD,
  results,
  floor,
  warnings: [...warnings, ...found],
  crashes,
});
process.stdout.write(JSON.stringify(json, null, 1) + '\n');
if (opt.out) writeOut('bench/results/serving-edge.json', json);
