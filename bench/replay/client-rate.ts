/**
 * Can the replay client keep its schedule? It replays a Poisson trace open loop against an echo
 * server (no model, its own process) and reports how late the sends were against the schedule,
 * the rate it achieved and its own CPU per request. Goal: at 2,000 req/s, p99 lateness <= 5 ms.
 * Medians over --reps runs per rate; JSON on stdout and in --out.
 *
 *   npx tsc -p tsconfig.bench.json && node dist-bench/bench/replay/client-rate.js \
 *       [--rates 2000,5000] [--reps 3] [--duration 4] [--threads auto|N] [--transport grpc-js,h2]
 *       [--server h2|lean|full] [--out FILE]
 *
 * --server (echo-server.ts): `h2` (default) answers from a pre-encoded response on bare
 * node:http2, the cheapest server, so the client gets most of the 2 cores; `lean` does the same on
 * a grpc-js server; `full` is slackserve's own gRPC server with a trivial backend.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { Transport } from '../../src/replay/replay-thread.js';
import { replay } from '../../src/replay/replayer.js';
import { CLIENT_BEHIND_P99_LIMIT_MS, summarize } from '../../src/replay/report.js';
import { poisson } from '../../src/trace/generators.js';

const { values: a } = parseArgs({
  options: {
    rates: { type: 'string', default: '2000,5000' },
    reps: { type: 'string', default: '3' },
    duration: { type: 'string', default: '4' },
    threads: { type: 'string', default: 'auto' },
    server: { type: 'string', default: 'h2' },
    transport: { type: 'string', default: 'grpc-js,h2' },
    port: { type: 'string', default: '18701' },
    out: { type: 'string', default: 'bench/results/replay-client-rate.json' },
  },
});
const rates = (a.rates as string).split(',').map(Number);
const reps = Number(a.reps);
const durationS = Number(a.duration);
const threads = a.threads === 'auto' ? 'auto' : Number(a.threads);
if (!rates.every((r) => r > 0) || !(reps >= 1) || !(durationS > 0) || (threads !== 'auto' && !(threads >= 1))) throw new Error('bad arguments');
const transports = (a.transport as string).split(',') as Transport[];
if (!transports.every((t) => t === 'grpc-js' || t === 'h2')) throw new Error('--transport: grpc-js and/or h2');
const GOAL_RPS = 2000;

const server = spawn(process.execPath, [fileURLToPath(new URL('./echo-server.js', import.meta.url)), a.port as string, a.server as string], { stdio: ['ignore', 'pipe', 'inherit'] });
await once(server.stdout!, 'data');
const images = new Float32Array(16 * 784).map((_, i) => (i % 97) / 97);
const median = (xs: number[]): number => {
  const s = [...xs].sort((x, y) => x - y);
  const m = s.length >> 1;
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};
const round = (v: number, d = 2): number => Number(v.toFixed(d));

interface Rep {
  offered_rps: number;
  achieved_send_rps: number;
  completed_rps: number;
  behind_p50_ms: number;
  behind_p99_ms: number;
  behind_max_ms: number;
  cpu_us_per_request: number;
  cpu_cores: number;
  thread_busy_max: number;
  latency_p50_ms: number;
  errors: number;
  threads: number;
  client_limited: boolean;
  client_limited_reason: string | null;
  load_avg_1m: number;
}

const results = [];
try {
  for (const transport of transports) {
    for (const rate of rates) {
      const runs: Rep[] = [];
      for (let rep = 0; rep < reps; rep++) {
        const trace = poisson({ rate, durationS, sloMs: 1000, seed: 3 + rep });
        const load = loadavg()[0] as number;
        const r = await replay({ target: `127.0.0.1:${a.port}`, model: 'fmnist-resnet', inputName: 'image', trace, images, labels: new Uint8Array(16), sampleShape: [1, 28, 28], threads, transport });
        const s = summarize(r.records, r.scheduleS, r.maxBehindMs, r.client);
        const lastSend = Math.max(...r.records.map((x) => x.scheduledMs + x.behindMs));
        const row: Rep = {
          offered_rps: round(r.total / durationS, 0),
          achieved_send_rps: round((r.total / Math.max(lastSend, 1)) * 1000, 0),
          completed_rps: round(s.answered / r.client.wallS, 0),
          behind_p50_ms: round(s.client_behind_ms.p50 ?? 0),
          behind_p99_ms: round(s.client_behind_ms.p99 ?? 0),
          behind_max_ms: round(s.client_behind_ms.max),
          cpu_us_per_request: s.client_cpu_us_per_request ?? 0,
          cpu_cores: round(s.client_cpu_cores ?? 0),
          thread_busy_max: round(s.client_thread_busy_max ?? 0),
          latency_p50_ms: round(s.latency_ms.p50 ?? 0),
          errors: s.errors,
          threads: r.threads,
          client_limited: s.client_limited,
          client_limited_reason: s.client_limited_reason,
          load_avg_1m: round(load),
        };
        process.stderr.write(JSON.stringify({ transport, rate, rep, ...row }) + '\n');
        runs.push(row);
      }
      const med = (k: keyof Rep): number => median(runs.map((x) => x[k] as number));
      results.push({
        transport,
        offered_rps: rate,
        threads: runs[0]?.threads,
        median: {
          achieved_send_rps: med('achieved_send_rps'),
          completed_rps: med('completed_rps'),
          behind_p50_ms: med('behind_p50_ms'),
          behind_p99_ms: med('behind_p99_ms'),
          behind_max_ms: med('behind_max_ms'),
          cpu_us_per_request: med('cpu_us_per_request'),
          cpu_cores: med('cpu_cores'),
          thread_busy_max: med('thread_busy_max'),
          latency_p50_ms: med('latency_p50_ms'),
          errors: med('errors'),
        },
        client_limited_runs: runs.filter((x) => x.client_limited).length,
        reps: runs,
      });
    }
  }
} finally {
  server.kill('SIGTERM');
}
const out = {
  bench: 'replay-client-rate',
  goal: {
    offered_rps: GOAL_RPS,
    behind_p99_ms_at_most: CLIENT_BEHIND_P99_LIMIT_MS,
    met: Object.fromEntries(
      results.filter((x) => x.offered_rps === GOAL_RPS).map((x) => [x.transport, x.median.behind_p99_ms <= CLIENT_BEHIND_P99_LIMIT_MS]),
    ),
  },
  setup: {
    server: a.server,
    duration_s: durationS,
    reps,
    threads: a.threads,
    machine_cores: availableParallelism(),
    node: process.version,
    note: 'client and echo server on the same machine; load_avg_1m per rep is the whole machine (other work included) when the rep started',
  },
  results,
};
console.log(JSON.stringify(out, null, 1));
mkdirSync(dirname(a.out as string), { recursive: true });
writeFileSync(a.out as string, JSON.stringify(out, null, 1) + '\n');
