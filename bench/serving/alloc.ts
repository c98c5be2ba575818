/**
 * What the request path allocates: KB of JavaScript heap allocated on the main thread per answered
 * request at saturation (V8's sampling heap profiler, collected objects included: heap-sample.ts),
 * for the bare grpc-js echo (the floor) and `slackserve serve --policy static-smallest`, driven by
 * h2load on one pre-encoded body as in edge.ts (closed loop, -c 4 -m 64). Allocation is what the
 * scavenger has to clear, so it is GC time in the making; unlike CPU on this shared machine it
 * hardly moves between runs. Medians over --reps, the server's figure as a ratio to the echo's of
 * the same run. JSON on stdout, progress on stderr.
 *
 *   npx tsc -p tsconfig.bench.json
 *   node dist-bench/bench/serving/alloc.js [--reps 3] [--images 1] [--seconds 8] [--cli PATH] [--out]
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { log, median } from './common.js';
import { ensureH2load, runH2load, writeBody } from './edge-h2load.js';
import { startServer, type ServerName } from './edge-procs.js';

const { values: opt } = parseArgs({
  options: {
    reps: { type: 'string', default: '3' },
    images: { type: 'string', default: '1' },
    seconds: { type: 'string', default: '8' },
    'warmup-s': { type: 'string', default: '3' },
    servers: { type: 'string', default: 'echo,embedded' },
    cli: { type: 'string' },
    out: { type: 'boolean', default: false },
  },
});

const HEAP_SAMPLE = fileURLToPath(new URL('./heap-sample.js', import.meta.url));
const images = Number(opt.images);
const seconds = Number(opt.seconds);

interface Sample {
  readonly kb_per_request: number;
  readonly requests: number;
  readonly rps: number;
  readonly top: readonly (readonly [string, number])[];
}

async function once(name: ServerName, body: string): Promise<Sample> {
  const file = join(tmpdir(), `alloc-${process.pid}-${name}-${Math.random().toString(36).slice(2, 8)}.json`);
  const server = await startServer(name, { policy: 'static-smallest', redisUrl: '', threads: undefined, cli: opt.cli, preload: { module: HEAP_SAMPLE, env: { SLACKSERVE_HEAP_OUT: file } } });
  const proc = server.procs[0]!;
  try {
    const drive = (s: number): ReturnType<typeof runH2load> => runH2load({ port: server.grpcPort, body, seconds: s, clients: 4, streams: Math.max(4, Math.round(64 / images)) });
    await drive(Number(opt['warmup-s']));
    proc.child.kill('SIGUSR2'); // warm-up over: sample afresh
    await new Promise((r) => setTimeout(r, 300));
    const run = await drive(seconds);
    proc.child.kill('SIGUSR2'); // write what the run allocated
    let got: { bytes: number; top: [string, number][] } | undefined;
    for (let i = 0; i < 100 && !got; i++) {
      await new Promise((r) => setTimeout(r, 100));
      try {
        got = JSON.parse(readFileSync(file, 'utf8')) as { bytes: number; top: [string, number][] };
      } catch {
        // not written yet
      }
    }
    if (!got) throw new Error(`${name}: the heap sampler wrote nothing`);
    // h2load counts HTTP 200; every answer of these servers on this body is a success (edge.ts checks)
    const requests = run.status2xx;
    log(`${name}: ${requests} requests in ${seconds} s, ${(got.bytes / 1e6).toFixed(0)} MB allocated, ${(got.bytes / 1e3 / requests).toFixed(1)} KB/request`);
    return { kb_per_request: got.bytes / 1e3 / requests, requests, rps: requests / seconds, top: got.top.map(([k, b]) => [k, Math.round((b / requests) * 10) / 10] as const) };
  } finally {
    await server.stop();
    rmSync(file, { force: true });
  }
}

ensureH2load();
const { file: body } = writeBody(images, 1000);
const names = opt.servers.split(',') as ServerName[];
const runs = new Map<ServerName, Sample[]>(names.map((n) => [n, []]));
for (let rep = 0; rep < Number(opt.reps); rep++) {
  for (const n of names) {
    log(`rep ${rep + 1}/${opt.reps} ${n}`);
    runs.get(n)!.push(await once(n, body));
  }
}
const ref = runs.get('echo');
const results = Object.fromEntries(
  names.map((n) => {
    const xs = runs.get(n)!;
    const kb = median(xs.map((x) => x.kb_per_request));
    const last = xs[xs.length - 1]!;
    return [
      n,
      {
        kb_per_request: Math.round(kb * 10) / 10,
        ratio_to_echo: ref ? Math.round((kb / median(ref.map((x) => x.kb_per_request))) * 100) / 100 : null,
        per_rep: xs.map((x) => Math.round(x.kb_per_request * 10) / 10),
        rps_per_rep: xs.map((x) => Math.round(x.rps)),
        top_bytes_per_request_last_rep: last.top,
      },
    ];
  }),
);
const report = {
  bench: 'serving/alloc',
  date: new Date().toISOString(),
  command: `node dist-bench/bench/serving/alloc.js ${process.argv.slice(2).join(' ')}`.trim(),
  host: { loadavg_start: loadavg() },
  settings: { images, seconds, reps: Number(opt.reps), h2load: { clients: 4, streams: Math.max(4, Math.round(64 / images)) }, cli: opt.cli ?? 'bin/slackserve.js' },
  method: 'V8 sampling heap profiler (16 KiB interval, collected objects included) on the main thread during a closed-loop h2load run after a warm-up; bytes / answered requests',
  results,
};
const json = JSON.stringify(report, null, 1);
process.stdout.write(json + '\n');
if (opt.out) {
  mkdirSync('bench/results', { recursive: true });
  writeFileSync(`bench/results/serving-alloc-${new Date().toISOString().slice(0, 10).replace(/-/g, '')}.json`, json + '\n');
}
