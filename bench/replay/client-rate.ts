/**
 * Can the replay client keep a 5,000 req/s schedule (issue 7 goal)? It replays a Poisson trace
 * open loop against an echo server (no model) in another process and reports how far behind its
 * schedule it fell, the completion rate, and latency; for 1, 2 and 4 sender threads. JSON out.
 *
 *   npx tsc -p tsconfig.bench.json && node dist-bench/bench/replay/client-rate.js
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { replay } from '../../src/replay/replayer.js';
import { poisson } from '../../src/trace/generators.js';

const rates = (process.argv[2] ?? '2000,5000').split(',').map(Number);
const threadsList = (process.argv[3] ?? '1,2,4').split(',').map(Number);
const server = spawn(process.execPath, [fileURLToPath(new URL('./echo-server.js', import.meta.url)), '18701'], { stdio: ['ignore', 'pipe', 'inherit'] });
await once(server.stdout!, 'data');
const images = new Float32Array(16 * 784).map((_, i) => (i % 97) / 97);
const rows = [];
for (const rate of rates)
  for (const threads of threadsList) {
    const trace = poisson({ rate, durationS: 4, sloMs: 1000, seed: 3 });
    const t0 = performance.now();
    const r = await replay({ target: '127.0.0.1:18701', model: 'fmnist-resnet', inputName: 'image', trace, images, labels: new Uint8Array(16), sampleShape: [1, 28, 28], threads });
    const wall = (performance.now() - t0) / 1000;
    const lat = r.records.map((x) => x.latencyMs).sort((a, b) => a - b);
    const behind = r.records.map((x) => x.behindMs).sort((a, b) => a - b);
    const row = {
      offered_rps: rate,
      threads,
      requests: r.total,
      ok: r.records.filter((x) => x.outcome === 'ok').length,
      completion_rps: Math.round(r.total / wall),
      send_behind_p50_ms: Number((behind[behind.length >> 1] ?? 0).toFixed(2)),
      send_behind_max_ms: Number(r.maxBehindMs.toFixed(1)),
      latency_p50_ms: Number((lat[lat.length >> 1] ?? 0).toFixed(2)),
    };
    process.stderr.write(JSON.stringify(row) + '\n');
    rows.push(row);
  }
server.kill('SIGTERM');
const out = { bench: 'replay-client-rate', goal_rps: 5000, note: 'client, echo server and nothing else on the same 2 cores', rows };
console.log(JSON.stringify(out, null, 1));
writeFileSync('bench/results/replay-client-rate.json', JSON.stringify(out, null, 1) + '\n');
