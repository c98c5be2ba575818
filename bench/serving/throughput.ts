/**
 * Served throughput at saturation vs the compute limit (issue 5 goal: >= 0.9x). For a subnet, the
 * runtime's own best (executor threads kept busy with batch-64 runs) is measured first; then the
 * full server (`slackserve serve --policy static:<subnet>`, in-process queue, its own process) is
 * driven closed loop over gRPC with enough requests in flight to fill batches, for requests of
 * 1, 16 and 64 images. Prints JSON (medians over --reps, ratios to the same-run compute limit).
 *
 *   npx tsc -p tsconfig.bench.json && node dist-bench/bench/serving/throughput.js
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { OipClient } from '../../src/client/oip-client.js';
import { Catalogue } from '../../src/supernet/catalogue.js';
import { log, median, runtimeBest, spawnServer, SUPERNET } from './common.js';

const { values: opt } = parseArgs({
  options: {
    subnets: { type: 'string', default: 'smallest,largest' },
    sizes: { type: 'string', default: '1,16,64' },
    seconds: { type: 'string', default: '4' },
    reps: { type: 'string', default: '3' },
    threads: { type: 'string', default: '2' },
  },
});
const cat = Catalogue.load(SUPERNET);
const pareto = cat.pareto;
const pick = (w: string): string => (w === 'smallest' ? pareto[0]!.id : w === 'largest' ? pareto[pareto.length - 1]!.id : w);
const seconds = Number(opt.seconds);
const reps = Number(opt.reps);
const threads = Number(opt.threads);

async function served(target: string, k: number): Promise<number> {
  const c = new OipClient(target);
  const images = new Float32Array(k * 784).map((_, i) => ((i * 7919) % 1000) / 1000);
  // enough in flight to fill two batch-64 executions plus the ones being answered
  const inflight = Math.max(4, Math.ceil((3 * 64) / k));
  let done = 0;
  const t0 = performance.now();
  const end = t0 + seconds * 1000;
  await Promise.all(
    Array.from({ length: inflight }, async () => {
      while (performance.now() < end) {
        await c.infer({ model: cat.manifest.name, images, shape: [k, 1, 28, 28], params: { 'slackserve.latency_budget_ms': 10_000 } });
        done += k;
      }
    }),
  );
  c.close();
  return done / ((performance.now() - t0) / 1000);
}

const rows = [];
let port = 18201;
for (const w of opt.subnets.split(',')) {
  const subnet = pick(w);
  const limits: number[] = [];
  for (let r = 0; r < reps; r++) limits.push(await runtimeBest(subnet, threads, seconds));
  const limit = median(limits);
  log(`${subnet}: compute limit ${limit.toFixed(0)} img/s (${threads} executor threads, batch 64)`);
  const server = await spawnServer(['--policy', `static:${subnet}`, '--threads', String(threads), '--admission', 'off'], port);
  port += 2;
  try {
    for (const k of opt.sizes.split(',').map(Number)) {
      await served(server.target, k); // warm-up
      const xs: number[] = [];
      for (let r = 0; r < reps; r++) xs.push(await served(server.target, k));
      const v = median(xs);
      log(`  ${k} image(s)/request: ${v.toFixed(0)} img/s served (${((100 * v) / limit).toFixed(1)}% of the limit)`);
      rows.push({ subnet, images_per_request: k, served_img_s: Math.round(v), compute_limit_img_s: Math.round(limit), ratio: Number((v / limit).toFixed(3)) });
    }
  } finally {
    await server.stop();
  }
}
const out = { bench: 'serving-throughput', goal_ratio: 0.9, threads, seconds, reps, rows };
console.log(JSON.stringify(out, null, 1));
writeFileSync('bench/results/serving-throughput.json', JSON.stringify(out, null, 1) + '\n');
