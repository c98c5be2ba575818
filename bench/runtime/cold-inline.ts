/**
 * Is the cold-batch cost (cold-batch.ts) the hand-off between threads? This runs onnxruntime on
 * the calling thread itself, one batch at a time, and puts something different before each run:
 *   b2b     nothing (back to back)
 *   sleep   a --gap-ms timer: the thread blocks, the core may idle or run other work
 *   spin    --gap-ms of JavaScript busy-waiting (performance.now in a loop): no blocking, no syscall
 *   sweep   --gap-ms of reading and writing a 32 MB array: the data caches and TLB filled by other data
 * Per mode: the run's wall time and the process's CPU (process.cpuUsage) per run, medians over
 * --reps with the modes interleaved; ratio = mode / back to back, same run. No executor thread,
 * no MessagePort, no worker loop: if `sleep` still costs more than `b2b`, the cost is the state
 * the core and its caches are in when a run starts, not the hand-off.
 *
 * Usage: node dist-bench/bench/runtime/cold-inline.js [--encoding branched|static|sliced]
 *   [--subnet ID] [--batch 1] [--gap-ms 5] [--runs 300] [--reps 3]
 */
import { parseArgs } from 'node:util';
import { Catalogue } from '../../src/supernet/catalogue.js';
import { inputs, median, r3, runners, type Encoding } from './common.js';

const { values } = parseArgs({
  options: {
    supernet: { type: 'string', default: 'supernets/fmnist-resnet' },
    encoding: { type: 'string', default: 'branched' },
    subnet: { type: 'string', default: '' },
    batch: { type: 'string', default: '1' },
    'gap-ms': { type: 'string', default: '5' },
    runs: { type: 'string', default: '300' },
    reps: { type: 'string', default: '3' },
  },
});
const cat = Catalogue.load(values.supernet);
const subnet = values.subnet || cat.pareto.reduce((a, b) => ((b.top1 ?? 1) < (a.top1 ?? 1) ? b : a)).id;
const encoding = values.encoding as Encoding;
const gapMs = Number(values['gap-ms']);
const runs = Number(values.runs);
const batch = Number(values.batch);
const run = (await runners(cat, [encoding], [subnet]))(encoding, subnet, inputs(batch, cat.sampleSize));

const MODES = ['b2b', 'sleep', 'spin', 'sweep'] as const;
type Mode = (typeof MODES)[number];
const big = new Float64Array(4 << 20); // 32 MB
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
let sink = 0;
async function before(mode: Mode): Promise<void> {
  const end = performance.now() + gapMs;
  if (mode === 'sleep') await sleep(gapMs);
  else if (mode === 'spin') while (performance.now() < end) sink++;
  else if (mode === 'sweep') while (performance.now() < end) for (let i = 0; i < big.length; i += 8) sink += big[i]!++;
}

async function measure(mode: Mode): Promise<{ run_ms: number; cpu_us: number }> {
  let wall = 0;
  let cpu = 0;
  for (let i = 0; i < runs; i++) {
    await before(mode);
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    await run();
    wall += performance.now() - t0;
    const c = process.cpuUsage(c0);
    cpu += c.user + c.system;
  }
  return { run_ms: wall / runs, cpu_us: cpu / runs };
}

for (let i = 0; i < 300; i++) await run(); // warm-up
const got = new Map<Mode, { run_ms: number; cpu_us: number }[]>(MODES.map((m) => [m, []]));
for (let r = 0; r < Number(values.reps); r++)
  for (const m of MODES) {
    const x = await measure(m);
    got.get(m)!.push(x);
    process.stderr.write(`rep ${r + 1}/${values.reps} ${m}: run ${r3(x.run_ms)} ms, cpu ${Math.round(x.cpu_us)} µs\n`);
  }
const med = (m: Mode, k: 'run_ms' | 'cpu_us'): number => median(got.get(m)!.map((x) => x[k]));
const results = Object.fromEntries(
  MODES.map((m) => [m, { run_ms: r3(med(m, 'run_ms')), cpu_us_per_run: Math.round(med(m, 'cpu_us')), ratio_run: r3(med(m, 'run_ms') / med('b2b', 'run_ms')), ratio_cpu: r3(med(m, 'cpu_us') / med('b2b', 'cpu_us')) }]),
);
console.log(
  JSON.stringify(
    { bench: 'runtime-cold-inline', date: new Date().toISOString(), command: `node dist-bench/bench/runtime/cold-inline.js ${process.argv.slice(2).join(' ')}`.trim(), encoding, subnet, batch, gap_ms: gapMs, runs_per_rep: runs, sink: sink > 0, results },
    null,
    1,
  ),
);
