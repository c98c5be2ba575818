/**
 * What a batch costs when the executor thread has been idle, against the same batch run back to
 * back: the executor (one worker thread, the smallest subnet by default) runs batches either one
 * after another, or one every `--gap-ms` with the thread idle in between (the main thread sleeps;
 * other work may run on the core). Per batch size: compute time inside the thread (`computeMs`)
 * and CPU of the process's other threads (the executor's, V8's), read from
 * /proc/<pid>/task/<tid>/schedstat (nanoseconds; on this machine utime+stime agree with it).
 * Reps interleave the two modes; medians over reps; ratio = gapped / back to back, same run.
 *
 * Why: at moderate load most batches start on a thread (and core) that did something else since
 * the last one; this bench shows how much that costs, and so how much fewer, larger batches save.
 *
 * Usage: node dist-bench/bench/runtime/cold-batch.js [--supernet DIR] [--subnet ID]
 *   [--batches 1,4,16,64] [--gap-ms 5] [--runs 200] [--reps 3]
 */
import { readdirSync, readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { Executor } from '../../src/runtime/executor.js';
import { Catalogue } from '../../src/supernet/catalogue.js';
import { inputs, median, r3 } from './common.js';

const { values } = parseArgs({
  options: {
    supernet: { type: 'string', default: 'supernets/fmnist-resnet' },
    subnet: { type: 'string', default: '' },
    batches: { type: 'string', default: '1,4,16,64' },
    'gap-ms': { type: 'string', default: '5' },
    runs: { type: 'string', default: '200' },
    reps: { type: 'string', default: '3' },
  },
});
const cat = Catalogue.load(values.supernet);
const subnet = values.subnet || (cat.pareto.reduce((a, b) => ((b.top1 ?? 1) < (a.top1 ?? 1) ? b : a)).id);
const gapMs = Number(values['gap-ms']);
const runs = Number(values.runs);
const reps = Number(values.reps);
const batches = values.batches.split(',').map(Number);

/** CPU ms of every thread but the main one (schedstat's first field: ns on the CPU). */
function otherThreadsCpuMs(): number {
  let ns = 0;
  for (const t of readdirSync(`/proc/${process.pid}/task`)) {
    if (t === String(process.pid)) continue;
    try {
      ns += Number(readFileSync(`/proc/${process.pid}/task/${t}/schedstat`, 'utf8').split(' ')[0]);
    } catch {
      // a thread that exited between the listing and the read
    }
  }
  return ns / 1e6;
}

const ex = await Executor.start(cat.dir, { threads: 1, intraOpThreads: 1, executionProvider: 'cpu', maxBatch: 64 });
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function measure(batch: number, gap: number): Promise<{ compute_ms: number; cpu_us: number }> {
  const computes: number[] = [];
  const c0 = otherThreadsCpuMs();
  for (let i = 0; i < runs; i++) {
    computes.push((await ex.run(inputs(batch, cat.sampleSize), subnet, { checked: true })).computeMs);
    if (gap > 0) await sleep(gap);
  }
  return { compute_ms: median(computes), cpu_us: ((otherThreadsCpuMs() - c0) * 1000) / runs };
}

const results = [];
for (const batch of batches) {
  for (let i = 0; i < 50; i++) await ex.run(inputs(batch, cat.sampleSize), subnet, { checked: true }); // warm-up
  const warm: { compute_ms: number; cpu_us: number }[] = [];
  const cold: { compute_ms: number; cpu_us: number }[] = [];
  for (let r = 0; r < reps; r++) {
    warm.push(await measure(batch, 0));
    cold.push(await measure(batch, gapMs));
    process.stderr.write(`batch ${batch} rep ${r + 1}/${reps}: compute ${r3(warm[r]!.compute_ms)} ms back to back, ${r3(cold[r]!.compute_ms)} ms after a ${gapMs} ms gap\n`);
  }
  const w = { compute_ms: median(warm.map((x) => x.compute_ms)), cpu_us: median(warm.map((x) => x.cpu_us)) };
  const c = { compute_ms: median(cold.map((x) => x.compute_ms)), cpu_us: median(cold.map((x) => x.cpu_us)) };
  results.push({
    batch,
    back_to_back: { compute_ms: r3(w.compute_ms), cpu_us_per_batch: Math.round(w.cpu_us), cpu_us_per_image: r3(w.cpu_us / batch) },
    after_gap: { compute_ms: r3(c.compute_ms), cpu_us_per_batch: Math.round(c.cpu_us), cpu_us_per_image: r3(c.cpu_us / batch) },
    ratio_compute: r3(c.compute_ms / w.compute_ms),
    ratio_cpu: r3(c.cpu_us / w.cpu_us),
    cold_penalty_cpu_us_per_batch: Math.round(c.cpu_us - w.cpu_us),
  });
}
await ex.close();
console.log(JSON.stringify({ bench: 'runtime-cold-batch', date: new Date().toISOString(), command: `node dist-bench/bench/runtime/cold-batch.js ${process.argv.slice(2).join(' ')}`.trim(), subnet, gap_ms: gapMs, runs_per_rep: runs, reps, results }, null, 2));
