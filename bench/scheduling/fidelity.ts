/**
 * Simulator fidelity (issue 12): the same traces replayed live (a real `slackserve serve` per
 * policy, real gRPC, real executor) and simulated (the same policy code, the measured serving
 * model), printed side by side with the gap, in one command.
 *
 *   npx tsc -p tsconfig.bench.json && node dist-bench/bench/scheduling/fidelity.js --measure
 *
 * --measure first measures the serving model on this machine (serving-model.ts) with a short
 * static-smallest replay at 1 and 16 images per request, and writes it beside the latency profile
 * (profiles/serving-cpu-2core.json), which `slackserve simulate --serving` also reads.
 *
 * Traces: `demo` (traces/demo-maf-burst.csv), `bursty` (--bursty-base/--bursty-burst, CV² 8, 30 s),
 * `onoff` (square-wave bursts: --onoff-low/--onoff-low-s/--onoff-high/--onoff-high-s/--onoff-duration)
 * or a trace file's path. Per trace it also prints SlackFit against the static runs of the same
 * trace (frontier.ts). --client-priority realtime runs the replay client SCHED_RR (root).
 *
 * Accuracy is compared as the mean top-1 (manifest) of the subnets that served the requests met
 * within the SLO, live and simulated alike; the live label-based figure is printed too (it differs
 * by the sampling error of the labelled test sample).
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { raiseToRealtime } from '../../src/client/priority.js';
import { loadConfig } from '../../src/config.js';
import { summarize as summarizeLive } from '../../src/replay/report.js';
import type { RequestRecord } from '../../src/replay/types.js';
import { buildPolicy, policyOptionsFrom } from '../../src/scheduler/registry.js';
import { latencyTableFor } from '../../src/server/serve.js';
import { guardedConcurrency, parseServingModel, type ServingModel } from '../../src/sim/serving-model.js';
import { simulate } from '../../src/sim/simulator.js';
import { summarize as summarizeSim } from '../../src/sim/summary.js';
import { Catalogue } from '../../src/supernet/catalogue.js';
import { readTraceFile, toColumns, type TraceRequest } from '../../src/trace/format.js';
import { bursty, onOff, poisson } from '../../src/trace/generators.js';
import { log, median, replayLogged, spawnServer, SUPERNET } from '../serving/common.js';
import { attainmentSvg, latencyCdfSvg, mixSvg, type PolicyRun } from './fidelity-plots.js';
import { compareWithStatics, type FrontierComparison } from './frontier.js';

const { values: opt } = parseArgs({
  options: {
    measure: { type: 'boolean', default: false },
    images: { type: 'string', default: '1' },
    policies: { type: 'string', default: 'slackfit,static-smallest,static-largest' },
    traces: { type: 'string', default: 'demo,bursty' },
    'bursty-base': { type: 'string', default: '100' },
    'bursty-burst': { type: 'string', default: '200' },
    'slo-ms': { type: 'string', default: '50' },
    /** on-off (square-wave bursts): quiet rate and length, burst rate and length (req/s, s) */
    'onoff-low': { type: 'string', default: '20' },
    'onoff-low-s': { type: 'string', default: '11' },
    'onoff-high': { type: 'string', default: '320' },
    'onoff-high-s': { type: 'string', default: '1' },
    'onoff-duration': { type: 'string', default: '60' },
    /** bursty: every request's accuracy floor (0..1; default none) */
    'min-accuracy': { type: 'string' },
    seed: { type: 'string', default: '1' },
    /** realtime: the replay client runs SCHED_RR (root), its servers at ordinary priority (src/client/priority.ts) */
    'client-priority': { type: 'string', default: 'normal' },
    out: { type: 'string', default: 'bench/results/fidelity.json' },
    plots: { type: 'string', default: 'docs/scheduling/live' },
  },
});

if (opt['client-priority'] === 'realtime' && !raiseToRealtime()) throw new Error('--client-priority realtime: could not set SCHED_RR (chrt -r needs root)');
else if (opt['client-priority'] !== 'realtime' && opt['client-priority'] !== 'normal') throw new Error(`--client-priority ${opt['client-priority']}: expected normal or realtime`);
const cfg = loadConfig({ overrides: { supernet: SUPERNET } });
const cat = Catalogue.load(SUPERNET);
const table = latencyTableFor(cfg, cat);
const servingFile = join(SUPERNET, 'profiles', 'serving-cpu-2core.json');
const top1 = new Map(table.subnets.map((s) => [s.id, s.accuracy]));
let port = 19411;

/** CPU seconds of one thread of a process (utime + stime from /proc). */
function threadCpuS(pid: number, tid: number): number {
  const f = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
  const parts = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return (Number(parts[11]) + Number(parts[12])) / 100; // clock ticks (USER_HZ 100 on Linux)
}

async function live(policy: string, trace: readonly TraceRequest[], k: number): Promise<{ records: RequestRecord[]; mainCpuS: number; clientCpuUs: number | null; scheduleS: number }> {
  const server = await spawnServer(['--policy', policy], (port += 2));
  const pid = server.proc.pid as number;
  try {
    const cpu0 = threadCpuS(pid, pid);
    const r = await replayLogged(server.target, trace, k, `live ${policy}`);
    const mainCpuS = threadCpuS(pid, pid) - cpu0;
    const s = summarizeLive(r.records, r.scheduleS, r.maxBehindMs, r.client);
    return { records: r.records, mainCpuS, clientCpuUs: s.client_cpu_us_per_request, scheduleS: r.scheduleS };
  } finally {
    await server.stop();
  }
}

/**
 * The serving model from short static-smallest runs: 1 image per request at two rates (the
 * event loop's and the client's CPU are fitted as a fixed cost per second plus a cost per request:
 * per-request cost falls with the rate as wake-ups are shared) and 16 images at the lower rate
 * (the cost per image). Hand-off and reply path are medians at the higher rate.
 */
async function measureServing(): Promise<ServingModel> {
  const smallest = table.byAccuracy[table.byAccuracy.length - 1] as { id: string; index: number };
  const seconds = 6;
  const point = async (rate: number, k: number) => {
    const r = await live('static-smallest', poisson({ rate, durationS: seconds, seed: 3, sloMs: 200 }), k);
    const ok = r.records.filter((x) => x.outcome === 'ok');
    return {
      n: r.records.length,
      cpuMs: 1000 * r.mainCpuS,
      clientMs: ((r.clientCpuUs ?? 0) / 1000) * r.records.length,
      // at these loads a batch is nearly always one request: its profiled latency is at k images
      dispatch: median(ok.map((x) => x.computeUs / 1000 - table.stats(smallest.index, k).p50)),
      outside: median(ok.map((x) => x.latencyMs - x.queueUs / 1000 - x.computeUs / 1000)),
    };
  };
  const lo = await point(150, 1);
  const hi = await point(450, 1);
  const many = await point(150, 16);
  const perRequest = Math.max(0, (hi.cpuMs - lo.cpuMs) / Math.max(1, hi.n - lo.n));
  const basePerMs = Math.max(0, (lo.cpuMs - perRequest * lo.n) / (seconds * 1000));
  const perImage = Math.max(0, (many.cpuMs - lo.cpuMs) / Math.max(1, many.n * 15));
  const clientPerRequest = Math.max(0, (hi.clientMs - lo.clientMs) / Math.max(1, hi.n - lo.n));
  const m: ServingModel = {
    format: 'slackserve-serving/1',
    cores: availableParallelism(),
    edge_ms_per_request: perRequest,
    edge_ms_per_image: perImage,
    edge_busy_base: basePerMs,
    dispatch_ms: Math.max(0, hi.dispatch),
    reply_ms: Math.max(0, hi.outside),
    client_ms_per_request: clientPerRequest,
    measured: `${new Date().toISOString()} by bench/scheduling/fidelity.ts --measure (static-smallest, Poisson 150 and 450 req/s x 1 image, 150 req/s x 16 images, ${seconds} s each)`,
  };
  writeFileSync(servingFile, JSON.stringify(m, null, 1) + '\n');
  log(`serving model written to ${servingFile}: ${JSON.stringify(m)}`);
  return m;
}

const serving = opt.measure ? await measureServing() : parseServingModel(JSON.parse(readFileSync(servingFile, 'utf8')));
if (!serving) throw new Error(`no serving model in ${servingFile}: run with --measure`);
const k = Number(opt.images);
const traces: Record<string, TraceRequest[]> = {};
for (const name of opt.traces.split(',')) {
  if (name === 'demo') traces[name] = await readTraceFile('traces/demo-maf-burst.csv');
  else if (name === 'bursty')
    traces[name] = bursty({
      baseRate: Number(opt['bursty-base']),
      burstRate: Number(opt['bursty-burst']),
      cv2: 8,
      durationS: 30,
      seed: Number(opt.seed),
      sloMs: Number(opt['slo-ms']),
      ...(opt['min-accuracy'] !== undefined ? { minAccuracy: Number(opt['min-accuracy']) } : {}),
    });
  else if (name === 'onoff')
    traces[name] = onOff({
      lowRate: Number(opt['onoff-low']),
      lowS: Number(opt['onoff-low-s']),
      highRate: Number(opt['onoff-high']),
      highS: Number(opt['onoff-high-s']),
      durationS: Number(opt['onoff-duration']),
      seed: Number(opt.seed),
      sloMs: Number(opt['slo-ms']),
    });
  else traces[name] = await readTraceFile(name);
}

function mixOf(subnets: readonly string[]): Record<string, number> {
  const n: Record<string, number> = {};
  for (const s of subnets) n[s] = (n[s] ?? 0) + 1;
  for (const s of Object.keys(n)) n[s] = Math.round(((n[s] as number) / subnets.length) * 10000) / 10000;
  return n;
}

const pct = (v: number | null): number | null => (v === null ? null : Math.round(v * 10000) / 100);
const rows = [];
/** Per trace, SlackFit against the static runs of the same trace, live and simulated. */
const frontier: Record<string, { live: FrontierComparison | null; sim: FrontierComparison | null }> = {};
mkdirSync(opt.plots, { recursive: true });
for (const [name, trace] of Object.entries(traces)) {
  const cols = toColumns(trace);
  const plotted: PolicyRun[] = [];
  for (const policy of opt.policies.split(',')) {
    const l = await live(policy, trace, k);
    const met = l.records.filter((x) => x.outcome === 'ok' && x.latencyMs <= x.sloMs);
    const liveAcc = met.length ? met.reduce((a, x) => a + (top1.get(x.subnet) ?? 0), 0) / met.length : null;
    const ls = summarizeLive(l.records, l.scheduleS);
    const run = simulate(cols, table, buildPolicy(policy, table, policyOptionsFrom(cfg)), {
      workers: cfg.executorThreads,
      seed: Number(opt.seed),
      noise: true,
      admission: cfg.admission,
      dispatchOverheadMs: cfg.dispatchOverheadMs,
      serving,
      imagesPerRequest: k,
      edgeMarginMs: cfg.edgeMarginMs,
      maxConcurrent: guardedConcurrency(cfg.executorThreads, cfg.eventLoopGuardMs),
    });
    const ss = summarizeSim(run);
    plotted.push({ policy, live: l.records, sim: run });
    const row = {
      trace: name,
      images: k,
      policy,
      live_attainment: pct(ls.slo_attainment),
      sim_attainment: pct(ss.slo_attainment),
      gap_attainment_pts: pct(ss.slo_attainment - ls.slo_attainment),
      live_accuracy: pct(liveAcc),
      sim_accuracy: pct(ss.mean_served_accuracy),
      gap_accuracy_pts: liveAcc === null || ss.mean_served_accuracy === null ? null : pct(ss.mean_served_accuracy - liveAcc),
      live_label_accuracy: pct(ls.served_accuracy),
      live_client_limited: ls.client_limited,
      live_client_limited_reason: ls.client_limited_reason,
      /** share of the answers within the SLO per subnet */
      live_mix: mixOf(met.map((x) => x.subnet)),
      sim_mix: ss.subnet_mix,
    };
    rows.push(row);
    log(`${name} ${policy}: live ${row.live_attainment}% / ${row.live_accuracy}%, sim ${row.sim_attainment}% / ${row.sim_accuracy}% (gap ${row.gap_attainment_pts} pts / ${row.gap_accuracy_pts} pts)`);
  }
  const mine = rows.filter((r) => r.trace === name);
  const side = (att: 'live_attainment' | 'sim_attainment', acc: 'live_accuracy' | 'sim_accuracy') =>
    compareWithStatics(mine.map((r) => ({ policy: r.policy, attainment: r[att] ?? 0, accuracy: r[acc] })));
  frontier[name] = { live: side('live_attainment', 'live_accuracy'), sim: side('sim_attainment', 'sim_accuracy') };
  for (const [how, c] of Object.entries(frontier[name]))
    if (c?.closest)
      log(`${name} ${how}: slackfit ${c.slackfit.attainment}% / ${c.slackfit.accuracy}%; closest static ${c.closest.policy} ${c.closest.attainment}% / ${c.closest.accuracy}% (ratio ${c.closest_ratio}); static frontier at slackfit's accuracy ${c.frontier_attainment ?? '-'}% (ratio ${c.frontier_ratio ?? '-'})`);
  const tag = `${name}-k${k}`;
  writeFileSync(join(opt.plots, `attainment-${tag}.svg`), attainmentSvg(`${name}, ${k} image(s)/request`, plotted));
  writeFileSync(join(opt.plots, `latency-cdf-${tag}.svg`), latencyCdfSvg(`${name}, ${k} image(s)/request`, plotted));
  const sf = plotted.find((r) => r.policy === 'slackfit');
  if (sf) writeFileSync(join(opt.plots, `mix-slackfit-${tag}.svg`), mixSvg(`${name}, ${k} image(s)/request`, sf));
}
const result = { bench: 'scheduling/fidelity', date: new Date().toISOString(), command: `node dist-bench/bench/scheduling/fidelity.js ${process.argv.slice(2).join(' ')}`, images: k, serving, rows, frontier };
writeFileSync(opt.out, JSON.stringify(result, null, 1) + '\n');
console.log(JSON.stringify(result, null, 1));
