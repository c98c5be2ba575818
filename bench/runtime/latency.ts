/**
 * Latency of every Pareto subnet in each encoding, interleaved round-robin in one process so that
 * machine noise hits all encodings alike. Prints JSON: p50 per (subnet, batch, encoding) and the
 * ratio to the static graph measured in the same run, plus the median ratio per batch size.
 *
 * Usage: node dist-bench/bench/runtime/latency.js [--supernet DIR] [--repeats N] [--batches 1,16,64]
 */
import { parseArgs } from 'node:util';
import { Catalogue } from '../../src/supernet/catalogue.js';
import { inputs, median, r3, runners, type Encoding } from './common.js';

const { values } = parseArgs({
  options: {
    supernet: { type: 'string', default: 'supernets/fmnist-resnet' },
    repeats: { type: 'string', default: '30' },
    batches: { type: 'string', default: '1,16,64' },
    encodings: { type: 'string', default: 'static,sliced,branched' },
  },
});
const cat = Catalogue.load(values.supernet);
const repeats = Number(values.repeats);
const batches = values.batches.split(',').map(Number);
const encodings = values.encodings.split(',') as Encoding[];
const ids = cat.pareto.map((s) => s.id);
const run = await runners(cat, encodings, ids);

const rows: { subnet: string; batch: number; p50_ms: Record<string, number>; ratio: Record<string, number> }[] = [];
for (const batch of batches) {
  const x = inputs(batch, cat.sampleSize);
  for (const id of ids) {
    const fns = encodings.map((e) => [e, run(e, id, x)] as const);
    for (const [, f] of fns) for (let i = 0; i < 3; i++) await f(); // warm-up
    const ms: Record<string, number[]> = Object.fromEntries(encodings.map((e) => [e, []]));
    for (let i = 0; i < repeats; i++)
      for (const [e, f] of fns) {
        const t0 = process.hrtime.bigint();
        await f();
        (ms[e] as number[]).push(Number(process.hrtime.bigint() - t0) / 1e6);
      }
    const p50 = Object.fromEntries(encodings.map((e) => [e, r3(median(ms[e] as number[]))]));
    const ratio = Object.fromEntries(encodings.filter((e) => e !== 'static').map((e) => [e, r3((p50[e] as number) / (p50.static as number))]));
    rows.push({ subnet: id, batch, p50_ms: p50, ratio });
    process.stderr.write(`batch ${batch} ${id}: ${JSON.stringify(p50)} ratio ${JSON.stringify(ratio)}\n`);
  }
}
const summary = Object.fromEntries(
  batches.map((b) => [
    `batch_${b}`,
    Object.fromEntries(
      encodings.filter((e) => e !== 'static').map((e) => [`median_ratio_${e}_vs_static`, r3(median(rows.filter((r) => r.batch === b).map((r) => r.ratio[e] as number)))]),
    ),
  ]),
);
console.log(JSON.stringify({ bench: 'runtime/latency', supernet: cat.manifest.name, repeats, subnets: ids.length, summary, rows }, null, 1));
