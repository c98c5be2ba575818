/**
 * Executor thread settings on this machine: for each (executor threads, intra-op threads,
 * spinning) a fresh process measures the p50 latency of one batch-16 run on a mid-sized Pareto
 * subnet with nothing else in flight, and the throughput (images/s) with 8 batches kept in flight.
 * Prints JSON with each configuration's ratio to the default (1 thread x 1 intra-op, no spinning).
 *
 * Usage: node dist-bench/bench/runtime/threads.js [--supernet DIR] [--seconds S]
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Executor } from '../../src/runtime/executor.js';
import { Catalogue } from '../../src/supernet/catalogue.js';
import { inputs, median, r3 } from './common.js';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { supernet: { type: 'string', default: 'supernets/fmnist-resnet' }, seconds: { type: 'string', default: '3' } },
});

if (positionals[0] === 'case') {
  const [, threads, intra, spin] = positionals.map(Number);
  const cat = Catalogue.load(values.supernet);
  const id = (cat.pareto[Math.floor(cat.pareto.length / 2)] as { id: string }).id;
  const ex = await Executor.start(cat.dir, {
    threads: threads as number,
    intraOpThreads: intra as number,
    spinning: spin === 1,
    executionProvider: 'cpu',
    maxBatch: 64,
  });
  const x = inputs(16, cat.sampleSize);
  for (let i = 0; i < 5; i++) await ex.run(x.slice(), id);
  const lat: number[] = [];
  for (let i = 0; i < 40; i++) {
    const t0 = process.hrtime.bigint();
    await ex.run(x.slice(), id);
    lat.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  let done = 0;
  const end = Date.now() + Number(values.seconds) * 1000;
  const worker = async (): Promise<void> => {
    while (Date.now() < end) {
      await ex.run(x.slice(), id);
      done++;
    }
  };
  const t0 = Date.now();
  await Promise.all(Array.from({ length: 8 }, worker));
  const images = (done * 16) / ((Date.now() - t0) / 1000);
  await ex.close();
  console.log(JSON.stringify({ subnet: id, p50_ms: r3(median(lat)), images_per_s: Math.round(images) }));
} else {
  const configs = [
    [1, 1, 0],
    [1, 2, 0],
    [1, 2, 1],
    [2, 1, 0],
    [2, 1, 1],
  ];
  const script = fileURLToPath(import.meta.url);
  const rows = configs.map(([t, i, s]) => {
    const r = spawnSync(process.execPath, [script, 'case', String(t), String(i), String(s), '--supernet', values.supernet, '--seconds', values.seconds], {
      encoding: 'utf8',
    });
    if (r.status !== 0) throw new Error(r.stderr);
    const j = JSON.parse(r.stdout.trim()) as { subnet: string; p50_ms: number; images_per_s: number };
    process.stderr.write(`threads ${t} x intra-op ${i} spinning ${s}: ${JSON.stringify(j)}\n`);
    return { executor_threads: t, intra_op_threads: i, spinning: s === 1, ...j };
  });
  const base = rows[0] as (typeof rows)[number];
  console.log(
    JSON.stringify(
      {
        bench: 'runtime/threads',
        subnet: base.subnet,
        batch: 16,
        rows: rows.map((r) => ({ ...r, latency_ratio: r3(r.p50_ms / base.p50_ms), throughput_ratio: r3(r.images_per_s / base.images_per_s) })),
      },
      null,
      1,
    ),
  );
}
