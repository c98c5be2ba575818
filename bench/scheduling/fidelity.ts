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
 * Accuracy is compared as the mean top-1 (manifest) of the subnets that served the requests met
 * within the SLO, live and simulated alike; the live label-based figure is printed too (it differs
 * by the sampling error of the labelled test sample).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfig } from '../../src/config.js';
import { summarize as summarizeLive } from '../../src/replay/report.js';
import { replay } from '../../src/replay/replayer.js';
import type { RequestRecord } from '../../src/replay/types.js';
import { buildPolicy, policyOptionsFrom } from '../../src/scheduler/registry.js';
import { latencyTableFor } from '../../src/server/serve.js';
import { parseServingModel, type ServingModel } from '../../src/sim/serving-model.js';
import { simulate } from '../../src/sim/simulator.js';
import { summarize as summarizeSim } from '../../src/sim/summary.js';
import { Catalogue } from '../../src/supernet/catalogue.js';
import { loadTestSample } from '../../src/supernet/sample.js';
import { readTraceFile, toColumns, type TraceRequest } from '../../src/trace/format.js';
import { bursty, poisson } from '../../src/trace/generators.js';
import { log, median, spawnServer, SUPERNET } from '../serving/common.js';

const { values: opt } = parseArgs({
  options: {
    measure: { type: 'boolean', default: false },
    images: { type: 'string', default: '1' },
    policies: { type: 'string', default: 'slackfit,static-smallest,static-largest' },
    traces: { type: 'string', default: 'demo,bursty' },
    'bursty-base': { type: 'string', default: '100' },
    'bursty-burst': { type: 'string', default: '200' },
    seed: { type: 'string', default: '1' },
    out: { type: 'string', default: 'bench/results/fidelity.json' },
  },
});

const cfg = loadConfig({ overrides: { supernet: SUPERNET } });
const cat = Catalogue.load(SUPERNET);
const table = latencyTableFor(cfg, cat);
const { sample, x: images } = loadTestSample(cat);
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
    let last = 0;
    const r = await replay({
      target: server.target,
      model: cat.manifest.name,
      inputName: cat.manifest.input.name,
      trace,
      images,
      labels: sample.labels,
      sampleShape: cat.sampleShape,
      imagesPerRequest: k,
      onProgress: (p) => {
        if (p.elapsedS - last >= 10 || p.done === p.total) {
          last = p.elapsedS;
          log(`  live ${policy}: ${p.done}/${p.total} answered, attainment so far ${p.done ? ((100 * p.met) / p.done).toFixed(1) : '-'}%`);
        }
      },
    });
    const mainCpuS = threadCpuS(pid, pid) - cpu0;
    const s = summarizeLive(r.records, r.scheduleS, r.maxBehindMs, r.client);
    return { records: r.records, mainCpuS, clientCpuUs: s.client_cpu_us_per_request, scheduleS: r.scheduleS };
  } finally {
    await server.stop();
  }
}

/** The serving model from two short static-smallest runs (1 and 16 images per request). */
async function measureServing(): Promise<ServingModel> {
  const smallest = table.byAccuracy[table.byAccuracy.length - 1] as { id: string; index: number };
  const trace = poisson({ rate: 150, durationS: 8, seed: 3, sloMs: 200 });
  const runs = [];
  for (const k of [1, 16]) {
    const r = await live('static-smallest', trace, k);
    const ok = r.records.filter((x) => x.outcome === 'ok');
    // at this load a batch is nearly always one request: its profiled latency is at k images
    const dispatch = median(ok.map((x) => x.computeUs / 1000 - table.stats(smallest.index, k).p50));
    const outside = median(ok.map((x) => x.latencyMs - x.queueUs / 1000 - x.computeUs / 1000));
    runs.push({ k, perRequestMs: (1000 * r.mainCpuS) / Math.max(1, r.records.length), dispatch, outside, client: (r.clientCpuUs ?? 0) / 1000 });
  }
  const [one, many] = runs as [(typeof runs)[0], (typeof runs)[0]];
  const perImage = Math.max(0, (many.perRequestMs - one.perRequestMs) / 15);
  const m: ServingModel = {
    format: 'slackserve-serving/1',
    cores: availableParallelism(),
    edge_ms_per_request: Math.max(0, one.perRequestMs - perImage),
    edge_ms_per_image: perImage,
    dispatch_ms: Math.max(0, one.dispatch),
    reply_ms: Math.max(0, (one.outside + many.outside) / 2),
    client_ms_per_request: (one.client + many.client) / 2,
    measured: `${new Date().toISOString()} by bench/scheduling/fidelity.ts --measure (static-smallest, 150 req/s Poisson, 1 and 16 images)`,
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
    traces[name] = bursty({ baseRate: Number(opt['bursty-base']), burstRate: Number(opt['bursty-burst']), cv2: 8, durationS: 30, seed: Number(opt.seed), sloMs: 50 });
  else traces[name] = await readTraceFile(name);
}

const pct = (v: number | null): number | null => (v === null ? null : Math.round(v * 10000) / 100);
const rows = [];
for (const [name, trace] of Object.entries(traces)) {
  const cols = toColumns(trace);
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
    });
    const ss = summarizeSim(run);
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
    };
    rows.push(row);
    log(`${name} ${policy}: live ${row.live_attainment}% / ${row.live_accuracy}%, sim ${row.sim_attainment}% / ${row.sim_accuracy}% (gap ${row.gap_attainment_pts} pts / ${row.gap_accuracy_pts} pts)`);
  }
}
const result = { bench: 'scheduling/fidelity', date: new Date().toISOString(), images: k, serving, rows };
writeFileSync(opt.out, JSON.stringify(result, null, 1) + '\n');
console.log(JSON.stringify(result, null, 1));
