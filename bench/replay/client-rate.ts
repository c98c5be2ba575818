/**
 * Can the replay client keep its schedule? It replays a Poisson trace open loop against an echo
 * server (no model, its own process) and reports how late the sends were against the schedule,
 * the rate it achieved and its own CPU per request. Goal: at 2,000 req/s, p99 lateness <= 5 ms.
 * Medians over --reps runs per rate; JSON on stdout and in --out.
 *
 *   npx tsc -p tsconfig.bench.json && node dist-bench/bench/replay/client-rate.js \
 *       [--rates 2000,5000] [--reps 3] [--duration 4] [--threads auto|N] [--transport grpc-js,h2]
 *       [--server h2|lean|full] [--wait-idle PCT [--wait-max S]] [--young-gen-mb N] [--out FILE]
 *
 * --server (echo-server.ts): `h2` (default) answers from a pre-encoded response on bare
 * node:http2, the cheapest server, so the client gets most of the 2 cores; `lean` does the same on
 * a grpc-js server; `full` is slackserve's own gRPC server with a trivial backend.
 *
 * On a shared machine other work takes CPU from both: each rep records the cores other processes
 * used meanwhile (`other_work_cores`, from /proc: machine busy - client - echo server), and
 * --wait-idle PCT starts each rep only once the machine was PCT% idle over 3 s (at most
 * --wait-max seconds of waiting; Linux only).
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { Transport } from '../../src/replay/replay-thread.js';
import { DEFAULT_THREAD_YOUNG_GEN_MB, replay } from '../../src/replay/replayer.js';
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
    'wait-idle': { type: 'string', default: '0' },
    'wait-max': { type: 'string', default: '600' },
    'young-gen-mb': { type: 'string', default: String(DEFAULT_THREAD_YOUNG_GEN_MB) },
  },
});
const waitIdle = Number(a['wait-idle']);
const waitMaxS = Number(a['wait-max']);
const youngGenMb = Number(a['young-gen-mb']);
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
/** Busy and total CPU time of the machine so far, s (/proc/stat; null where there is none). */
function machineCpu(): { busy: number; total: number } | null {
  try {
    const f = (readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '').trim().split(/\s+/).slice(1).map(Number);
    const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = f;
    const busy = user + nice + system + irq + softirq + steal;
    return { busy: busy / 100, total: (busy + idle + iowait) / 100 };
  } catch {
    return null;
  }
}

/** CPU time a process used so far, s (null where /proc is missing). */
function processCpu(pid: number | undefined): number | null {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return null;
  }
}

/** Waits until the machine was `pct`% idle over 3 s (or `maxS` passed); returns the idle % seen. */
async function waitForIdle(pct: number, maxS: number): Promise<number | null> {
  const end = Date.now() + maxS * 1000;
  for (;;) {
    const a0 = machineCpu();
    await new Promise((res) => setTimeout(res, 3000));
    const a1 = machineCpu();
    if (!a0 || !a1) return null;
    const idle = 100 * (1 - (a1.busy - a0.busy) / Math.max(1e-9, a1.total - a0.total));
    if (idle >= pct || Date.now() > end) return Math.round(idle);
  }
}

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
  /** Cores other processes (not the client, not the echo server) used during the rep (null: unknown). */
  other_work_cores: number | null;
  /** Idle % of the machine over the 3 s before the rep (with --wait-idle). */
  idle_before_pct: number | null;
}

const results = [];
try {
  for (const transport of transports) {
    for (const rate of rates) {
      const runs: Rep[] = [];
      for (let rep = 0; rep < reps; rep++) {
        const trace = poisson({ rate, durationS, sloMs: 1000, seed: 3 + rep });
        const idleBefore = waitIdle > 0 ? await waitForIdle(waitIdle, waitMaxS) : null;
        const load = loadavg()[0] as number;
        const m0 = machineCpu();
        const e0 = processCpu(server.pid);
        const c0 = process.cpuUsage();
        const w0 = performance.now();
        const r = await replay({ target: `127.0.0.1:${a.port}`, model: 'fmnist-resnet', inputName: 'image', trace, images, labels: new Uint8Array(16), sampleShape: [1, 28, 28], threads, transport, threadYoungGenMb: youngGenMb });
        const m1 = machineCpu();
        const e1 = processCpu(server.pid);
        const c1 = process.cpuUsage(c0);
        const wall = (performance.now() - w0) / 1000;
        const s = summarize(r.records, r.scheduleS, r.maxBehindMs, r.client);
        const other = m0 && m1 && e0 !== null && e1 !== null ? (m1.busy - m0.busy - (e1 - e0) - (c1.user + c1.system) / 1e6) / wall : null;
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
          other_work_cores: other === null ? null : round(Math.max(0, other)),
          idle_before_pct: idleBefore,
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
          other_work_cores: runs.every((x) => x.other_work_cores !== null) ? median(runs.map((x) => x.other_work_cores as number)) : null,
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
    wait_idle_pct: waitIdle,
    sender_young_gen_mb: youngGenMb,
    note: 'client and echo server on the same machine, shared with other work: other_work_cores per rep is the CPU other processes took meanwhile',
  },
  results,
};
console.log(JSON.stringify(out, null, 1));
mkdirSync(dirname(a.out as string), { recursive: true });
writeFileSync(a.out as string, JSON.stringify(out, null, 1) + '\n');
