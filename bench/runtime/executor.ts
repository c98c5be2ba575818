/**
 * Through the executor (worker thread, branched encoding by default):
 *  - switching cost: p50 of subnet A when the previous batch ran another subnet, over p50 of A
 *    when the previous batch ran A too (same process, interleaved);
 *  - staged vs whole: p50 of staged execution over whole-graph execution per Pareto subnet.
 * Prints JSON with same-run ratios.
 *
 * Usage: node dist-bench/bench/runtime/executor.js [--supernet DIR] [--repeats N] [--encoding E]
 */
import { parseArgs } from 'node:util';
import { Executor } from '../../src/runtime/executor.js';
import { Catalogue } from '../../src/supernet/catalogue.js';
import { inputs, median, r3 } from './common.js';

const { values } = parseArgs({
  options: {
    supernet: { type: 'string', default: 'supernets/fmnist-resnet' },
    repeats: { type: 'string', default: '40' },
    encoding: { type: 'string', default: 'branched' },
  },
});
const repeats = Number(values.repeats);
const cat = Catalogue.load(values.supernet);
const ids = cat.pareto.map((s) => s.id);
const ex = await Executor.start(cat.dir, {
  threads: 1,
  intraOpThreads: 1,
  executionProvider: 'cpu',
  maxBatch: 64,
  encoding: values.encoding as 'branched' | 'sliced',
});
const time = async (id: string, batch: number, mode: 'whole' | 'staged'): Promise<number> => {
  const x = inputs(batch, cat.sampleSize);
  const t0 = process.hrtime.bigint();
  await ex.run(x, id, { mode });
  return Number(process.hrtime.bigint() - t0) / 1e6;
};

// switching: A measured after A, and after each other subnet B, interleaved
const a = ids[Math.floor(ids.length / 2)] as string;
const same: number[] = [];
const switched: number[] = [];
for (let i = 0; i < 3; i++) await time(a, 16, 'whole');
for (let i = 0; i < repeats; i++) {
  const b = ids[i % ids.length] === a ? (ids[(i + 1) % ids.length] as string) : (ids[i % ids.length] as string);
  await time(a, 16, 'whole');
  same.push(await time(a, 16, 'whole'));
  await time(b, 16, 'whole');
  switched.push(await time(a, 16, 'whole'));
}
const switching = { subnet: a, batch: 16, p50_same_ms: r3(median(same)), p50_after_switch_ms: r3(median(switched)) };

// staged vs whole
const staged: { subnet: string; batch: number; whole_ms: number; staged_ms: number; ratio: number }[] = [];
for (const batch of [1, 16, 64])
  for (const id of ids) {
    for (let i = 0; i < 2; i++) await time(id, batch, 'staged');
    const w: number[] = [];
    const s: number[] = [];
    for (let i = 0; i < Math.ceil(repeats / 2); i++) {
      w.push(await time(id, batch, 'whole'));
      s.push(await time(id, batch, 'staged'));
    }
    staged.push({ subnet: id, batch, whole_ms: r3(median(w)), staged_ms: r3(median(s)), ratio: r3(median(s) / median(w)) });
    process.stderr.write(`staged/whole ${id} batch ${batch}: ${r3(median(s) / median(w))}\n`);
  }
await ex.close();
const stagedMedian = (b: number): number => r3(median(staged.filter((r) => r.batch === b).map((r) => r.ratio)));
console.log(
  JSON.stringify(
    {
      bench: 'runtime/executor',
      encoding: values.encoding,
      repeats,
      switching: { ...switching, overhead: r3(switching.p50_after_switch_ms / switching.p50_same_ms - 1) },
      staged_vs_whole_median_ratio: { batch_1: stagedMedian(1), batch_16: stagedMedian(16), batch_64: stagedMedian(64) },
      staged,
    },
    null,
    1,
  ),
);
