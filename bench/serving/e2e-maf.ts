/**
 * End to end over gRPC on a MAF-derived trace (issue 5 goal: SLO attainment >= 0.99 with SlackFit
 * at a mean rate of 70% of the runtime's best throughput for the fastest Pareto subnet).
 *
 * The compute limit is measured first (executor threads on the fastest subnet, batch 64). The
 * trace is the Azure Functions 2019 day (1,350 functions) compressed to --seconds, scaled to the
 * target mean, SLO --slo-ms; requests carry --images images each (the rate in requests/s is the
 * image rate / images). The server runs in its own process with the Redis queue; the replay
 * client sends open loop from --client-threads threads. Client-measured attainment (answer within
 * the SLO as the client sees it) is what counts. Prints JSON and writes bench/results/serving-e2e.json.
 *
 *   npx tsc -p tsconfig.bench.json && node dist-bench/bench/serving/e2e-maf.js --images 32
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { Catalogue } from '../../src/supernet/catalogue.js';
import { loadMafCounts, maf } from '../../src/trace/generators.js';
import { log, replayLogged, runtimeBest, spawnServer, SUPERNET } from './common.js';

const { values: opt } = parseArgs({
  options: {
    images: { type: 'string', default: '32' },
    load: { type: 'string', default: '0.7' },
    seconds: { type: 'string', default: '60' },
    'slo-ms': { type: 'string', default: '100' },
    threads: { type: 'string', default: '2' },
    'client-threads': { type: 'string', default: '2' },
    redis: { type: 'string', default: 'redis://127.0.0.1:6379' },
    policies: { type: 'string', default: 'slackfit' },
    'rate-rps': { type: 'string' },
  },
});
const cat = Catalogue.load(SUPERNET);
const fastest = cat.pareto[0]!.id;
const k = Number(opt.images);
const threads = Number(opt.threads);
const limit = await runtimeBest(fastest, threads, 4);
const targetImg = Number(opt.load) * limit;
const rateRps = opt['rate-rps'] !== undefined ? Number(opt['rate-rps']) : targetImg / k;
log(`compute limit on ${fastest}: ${limit.toFixed(0)} img/s; offering ${rateRps.toFixed(0)} req/s x ${k} images = ${(rateRps * k).toFixed(0)} img/s`);
const counts = await loadMafCounts('traces/azure_functions_2019/1350_inv.csv');
const trace = maf({ counts, durationS: Number(opt.seconds), meanRate: rateRps, sloMs: Number(opt['slo-ms']), seed: 21 });

const results = [];
let port = 18301;
for (const policy of opt.policies.split(',')) {
  const prefix = `bench-e2e-${process.pid}-${policy.replace(/[^a-z0-9]/gi, '')}`;
  const server = await spawnServer(['--policy', policy, '--threads', String(threads), '--redis', opt.redis], port, { SLACKSERVE_QUEUE_PREFIX: prefix });
  port += 2;
  try {
    const r = await replayLogged(server.target, trace, k, policy, Number(opt['client-threads']));
    const met = r.records.filter((x) => x.outcome === 'ok' && x.latencyMs <= x.sloMs).length;
    const ok = r.records.filter((x) => x.outcome === 'ok');
    const correct = ok.filter((x) => x.predicted === x.label).length;
    const lat = ok.map((x) => x.latencyMs).sort((a, b) => a - b);
    const q = (p: number): number => Number((lat[Math.min(lat.length - 1, Math.floor(p * lat.length))] ?? NaN).toFixed(2));
    const subnets: Record<string, number> = {};
    for (const x of ok) subnets[x.subnet] = (subnets[x.subnet] ?? 0) + 1;
    results.push({
      policy,
      requests: r.total,
      slo_attainment: Number((met / r.total).toFixed(4)),
      errors: r.total - ok.length,
      accuracy_vs_labels_first_image: Number((correct / Math.max(1, ok.length)).toFixed(4)),
      latency_p50_ms: q(0.5),
      latency_p99_ms: q(0.99),
      client_max_behind_ms: Number(r.maxBehindMs.toFixed(1)),
      subnet_mix: subnets,
    });
  } finally {
    await server.stop();
  }
}
const out = { bench: 'serving-e2e-maf', fastest_subnet: fastest, compute_limit_img_s: Math.round(limit), load: Number(opt.load), images_per_request: k, rate_rps: Math.round(rateRps), slo_ms: Number(opt['slo-ms']), seconds: Number(opt.seconds), goal_attainment: 0.99, results };
console.log(JSON.stringify(out, null, 1));
writeFileSync(`bench/results/serving-e2e-k${k}.json`, JSON.stringify(out, null, 1) + '\n');
