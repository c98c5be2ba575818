/**
 * What a call refused at the door costs the edge: the server's CPU per refused call, against a
 * bare grpc-js echo answering the same calls in the same run (its CPU per answered call).
 *
 * Under a 10x burst the door refuses most calls (the overload bench: ~4,000-8,000 refused 16-image
 * calls/s), and every millisecond the edge spends refusing delays the answers of the calls it let
 * in, which reach the client through the same event loop. So the refused call's price decides how
 * much of a burst one core of the edge can turn away.
 *
 * Method: `serve --policy static-smallest` with `SLACKSERVE_MAX_INFLIGHT=1` (every call past the
 * first in flight is refused RESOURCE_EXHAUSTED before its message is read) and the echo, each
 * driven by h2load closed-loop (`-c 4 -m 64`, the pre-encoded `--images` body) for `--seconds`;
 * CPU from /proc around the h2load run, calls from h2load's count. Medians over `--reps`.
 *
 *   node dist-bench/bench/serving/refusal.js [--images 16] [--seconds 5] [--reps 3] [--out FILE]
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { cpuSeconds, startServer, type Server } from './edge-procs.js';
import { ensureH2load, runH2load, writeBody } from './edge-h2load.js';
import { log, median } from './common.js';

const { values } = parseArgs({
  options: {
    images: { type: 'string', default: '16' },
    seconds: { type: 'string', default: '5' },
    reps: { type: 'string', default: '3' },
    out: { type: 'string' },
  },
});
const images = Number(values.images);
const seconds = Number(values.seconds);
const reps = Number(values.reps);

interface Figure {
  readonly calls_per_s: number;
  readonly cpu_us_per_call: number;
}

async function measure(server: Server, body: string): Promise<Figure> {
  const pids = server.procs.map((p) => p.pid);
  // warm-up: the JIT, the door's first refusals
  await runH2load({ port: server.grpcPort, body, seconds: 1, clients: 4, streams: 64 });
  const cpu0 = pids.reduce((a, p) => a + cpuSeconds(p), 0);
  const run = await runH2load({ port: server.grpcPort, body, seconds, clients: 4, streams: 64 });
  const cpu = pids.reduce((a, p) => a + cpuSeconds(p), 0) - cpu0;
  return { calls_per_s: Math.round(run.done / run.durationS), cpu_us_per_call: Math.round((cpu / run.done) * 1e6) };
}

async function main(): Promise<void> {
  ensureH2load();
  const body = writeBody(images, 100);
  const rows: Record<string, Figure[]> = { echo: [], refusing: [] };
  for (let r = 0; r < reps; r++) {
    for (const name of ['echo', 'refusing'] as const) {
      if (name === 'refusing') process.env['SLACKSERVE_MAX_INFLIGHT'] = '1';
      else delete process.env['SLACKSERVE_MAX_INFLIGHT'];
      const server = await startServer(name === 'echo' ? 'echo' : 'embedded', { policy: 'static-smallest', redisUrl: '', threads: undefined, probe: false });
      try {
        const f = await measure(server, body.file);
        rows[name]!.push(f);
        log(`rep ${r + 1}/${reps} ${name}: ${f.calls_per_s} calls/s, ${f.cpu_us_per_call} us CPU per call`);
      } finally {
        await server.stop();
      }
    }
  }
  delete process.env['SLACKSERVE_MAX_INFLIGHT'];
  const med = (name: string, k: keyof Figure): number => median(rows[name]!.map((f) => f[k]));
  const out = {
    bench: 'serving-refusal',
    when: new Date().toISOString(),
    settings: { images, seconds, reps, h2load: '-c 4 -m 64, closed loop', refusing: 'serve --policy static-smallest, SLACKSERVE_MAX_INFLIGHT=1' },
    echo: { calls_per_s: med('echo', 'calls_per_s'), cpu_us_per_call: med('echo', 'cpu_us_per_call') },
    refusing: { calls_per_s: med('refusing', 'calls_per_s'), cpu_us_per_call: med('refusing', 'cpu_us_per_call') },
    ratio_cpu_per_call: Math.round((med('refusing', 'cpu_us_per_call') / med('echo', 'cpu_us_per_call')) * 100) / 100,
    reps: rows,
  };
  const text = JSON.stringify(out, null, 1);
  if (values.out) writeFileSync(values.out, text);
  process.stdout.write(text + '\n');
}

await main();
