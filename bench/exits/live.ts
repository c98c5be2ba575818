/**
 * Early exits on the live server (issue 6 evidence): the same low-load trace replayed over gRPC
 * against the same fixed subnet with exits off and on, and SlackFit with exits off and on under
 * a MAF-derived load. Latency is what the client measures; accuracy loss of early answers is the
 * share of requests whose class differs from the exits-off run on the same image (the final
 * output), and top-1 is against the labels.
 *
 *   npx tsc -p tsconfig.bench.json && node dist-bench/bench/exits/live.js
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { replay } from '../../src/replay/replayer.js';
import type { RequestRecord } from '../../src/replay/types.js';
import { Catalogue } from '../../src/supernet/catalogue.js';
import { loadTestSample } from '../../src/supernet/sample.js';
import type { TraceRequest } from '../../src/trace/format.js';
import { loadMafCounts, maf, poisson } from '../../src/trace/generators.js';
import { log, spawnServer, SUPERNET } from '../serving/common.js';

const { values: opt } = parseArgs({
  options: {
    subnet: { type: 'string', default: 'r28_d333_w32-64-128' },
    rate: { type: 'string', default: '40' },
    seconds: { type: 'string', default: '25' },
    'maf-rate': { type: 'string', default: '300' },
    'exit-mode': { type: 'string', default: 'feedback' },
  },
});
const cat = Catalogue.load(SUPERNET);
const { sample, x: images } = loadTestSample(cat);
// the first 600 requests warm the exit loops up (feedback), the rest are measured
const WARM = 600;

async function run(args: string[], trace: TraceRequest[], port: number): Promise<RequestRecord[]> {
  const server = await spawnServer(['--threads', '1', '--admission', 'off', '--redis', 'embedded', ...args], port, { SLACKSERVE_EXIT_WARMUP_SAMPLES: '256', SLACKSERVE_EXIT_MODE: opt['exit-mode'] });
  try {
    const r = await replay({ target: server.target, model: cat.manifest.name, inputName: cat.manifest.input.name, trace, images, labels: sample.labels, sampleShape: cat.sampleShape, threads: 1 });
    return r.records;
  } finally {
    await server.stop();
  }
}

const median = (xs: number[]): number => {
  const a = [...xs].sort((p, q) => p - q);
  return a.length ? (a[(a.length - 1) >> 1]! + a[a.length >> 1]!) / 2 : NaN;
};
function summary(recs: RequestRecord[], base?: RequestRecord[]): Record<string, number> {
  const m = recs.filter((r) => r.i >= WARM);
  const ok = m.filter((r) => r.outcome === 'ok');
  const byI = new Map((base ?? []).map((r) => [r.i, r]));
  const compared = ok.filter((r) => byI.get(r.i)?.outcome === 'ok');
  const disagree = compared.filter((r) => byI.get(r.i)!.predicted !== r.predicted).length;
  return {
    requests: m.length,
    median_latency_ms: Number(median(ok.map((r) => r.latencyMs)).toFixed(3)),
    p99_latency_ms: Number([...ok.map((r) => r.latencyMs)].sort((a, b) => a - b)[Math.floor(ok.length * 0.99)]?.toFixed(3) ?? NaN),
    slo_attainment: Number((ok.filter((r) => r.latencyMs <= r.sloMs).length / Math.max(1, m.length)).toFixed(4)),
    early_share: Number((ok.filter((r) => r.exit !== 'final' && r.exit !== '').length / Math.max(1, ok.length)).toFixed(4)),
    top1_vs_labels: Number((ok.filter((r) => r.predicted === r.label).length / Math.max(1, ok.length)).toFixed(4)),
    ...(base ? { disagreement_vs_exits_off: Number((disagree / Math.max(1, compared.length)).toFixed(4)) } : {}),
  };
}

const out: Record<string, unknown> = { bench: 'exits-live', subnet: opt.subnet, exit_mode: opt['exit-mode'], warmup_requests: WARM };
// 1) low load, fixed subnet
const low = poisson({ rate: Number(opt.rate), durationS: Number(opt.seconds), sloMs: 1000, seed: 5 });
log(`low load: ${low.length} requests at ${opt.rate} req/s on ${opt.subnet}`);
const off = await run(['--policy', `static:${opt.subnet}`, '--exits', 'off'], low, 18501);
const on = await run(['--policy', `static:${opt.subnet}`, '--exits', 'threshold'], low, 18503);
const a = summary(off);
const b = summary(on, off);
out.low_load = { rate_rps: Number(opt.rate), exits_off: a, exits_threshold: b, median_reduction: Number((1 - b.median_latency_ms! / a.median_latency_ms!).toFixed(4)) };
log(JSON.stringify(out.low_load));
// 2) SlackFit under a MAF-derived load, exits off vs on
const counts = await loadMafCounts('traces/azure_functions_2019/1350_inv.csv');
const mafTrace = maf({ counts, durationS: Number(opt.seconds), meanRate: Number(opt['maf-rate']), sloMs: 50, seed: 6 });
log(`MAF: ${mafTrace.length} requests, mean ${opt['maf-rate']} req/s, SLO 50 ms`);
const sOff = await run(['--policy', 'slackfit', '--exits', 'off'], mafTrace, 18505);
const sOn = await run(['--policy', 'slackfit', '--exits', 'threshold'], mafTrace, 18507);
out.slackfit_maf = { mean_rate_rps: Number(opt['maf-rate']), slo_ms: 50, exits_off: summary(sOff), exits_threshold: summary(sOn, sOff) };
console.log(JSON.stringify(out, null, 1));
writeFileSync(`bench/results/exits-live${opt['exit-mode'] === 'feedback' ? '' : '-' + opt['exit-mode']}.json`, JSON.stringify(out, null, 1) + '\n');
