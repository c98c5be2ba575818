/**
 * One memory case in a fresh process (spawned by memory.ts): loads either the executor's graphs
 * for one encoding or one static session per Pareto subnet, warms every Pareto subnet at batch
 * 1 and 64, and prints the process RSS (MiB) before loading and after warm-up.
 */
import { SupernetGraphs } from '../../src/runtime/supernet-graphs.js';
import { openSession, imageTensor, type ort } from '../../src/runtime/session.js';
import { Catalogue } from '../../src/supernet/catalogue.js';
import { inputs } from './common.js';

const [dir = 'supernets/fmnist-resnet', kind = 'branched'] = process.argv.slice(2);
const cat = Catalogue.load(dir);
const mib = (): number => Math.round((process.memoryUsage().rss / 2 ** 20) * 10) / 10;
const ids = cat.pareto.map((s) => s.id);
const settings = { intraOpThreads: 1, executionProvider: 'cpu' as const };
await openSession(cat.path(cat.manifest.graphs.head.file), settings); // onnxruntime loaded in both cases
const before = mib();
if (kind === 'static') {
  const sessions: ort.InferenceSession[] = [];
  for (const id of ids) sessions.push(await openSession(cat.path(cat.subnet(id).static_graph), settings));
  for (const b of [1, 64]) for (const s of sessions) await s.run({ image: imageTensor(inputs(b, cat.sampleSize), cat.sampleShape) });
} else {
  const g = await SupernetGraphs.open(cat, settings, kind as 'sliced' | 'branched');
  for (const b of [1, 64]) for (const id of ids) await g.runWhole(inputs(b, cat.sampleSize), id);
}
console.log(JSON.stringify({ kind, rss_before_mib: before, rss_after_mib: mib(), added_mib: Math.round((mib() - before) * 10) / 10 }));
