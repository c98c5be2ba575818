/**
 * Collects real ramp outputs for the exit evaluation: runs Pareto subnets of the committed
 * supernet stage by stage through onnxruntime (branched encoding) over the Fashion-MNIST test
 * set (the committed 256-image sample when the Debian dataset is not installed) and saves, per
 * input, every ramp's argmax and `1 - max softmax` and the final output's, with the label.
 * That is all the exit policies read, and it keeps the files small enough to commit.
 *
 * Usage: node dist-bench/bench/exits/collect.js [--supernet DIR] [--data DIR] [--subnets a,b,c] [--batch 250]
 * Output: bench/results/exits-ramps-<subnet>.json (format slackserve-exit-feedback/1; arrays base64).
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { batchConfidence } from '../../src/exits/softmax.js';
import { SupernetGraphs } from '../../src/runtime/supernet-graphs.js';
import { DEFAULT_SESSION_SETTINGS } from '../../src/runtime/session.js';
import { Catalogue } from '../../src/supernet/catalogue.js';
import { DEFAULT_FASHION_MNIST_DIR, preprocess, readFashionMnist, readLabelledImages, type LabelledImages } from '../../src/supernet/dataset.js';
import { DEFAULT_SUBNETS, FEEDBACK_FORMAT, type FeedbackFile } from './data.js';

const { values } = parseArgs({
  options: {
    supernet: { type: 'string', default: 'supernets/fmnist-resnet' },
    data: { type: 'string', default: DEFAULT_FASHION_MNIST_DIR },
    subnets: { type: 'string', default: DEFAULT_SUBNETS.join(',') },
    batch: { type: 'string', default: '250' },
    out: { type: 'string', default: 'bench/results' },
  },
});
const cat = Catalogue.load(values.supernet);
const m = cat.manifest;
let set: LabelledImages;
let source: string;
if (existsSync(join(values.data, 't10k-images-idx3-ubyte.gz'))) {
  set = readFashionMnist(values.data, 't10k');
  source = `${values.data} (t10k, ${set.count} images)`;
} else {
  if (!m.sample) throw new Error('no dataset and no committed sample');
  set = readLabelledImages(cat.path(m.sample.images), cat.path(m.sample.labels));
  source = `${m.sample.images} (committed sample, ${set.count} images)`;
}
const graphs = await SupernetGraphs.open(cat, DEFAULT_SESSION_SETTINGS, 'branched');
const batch = Number(values.batch);
const C = cat.numClasses;
mkdirSync(values.out, { recursive: true });
const b64 = (a: ArrayBufferView): string => Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString('base64');
const summary: Record<string, unknown>[] = [];
for (const id of values.subnets.split(',')) {
  const sub = cat.subnet(id);
  const n = sub.stages.length;
  const exits = n + 1;
  const pred = new Uint8Array(set.count * exits);
  const loss = new Float32Array(set.count * exits);
  const t0 = performance.now();
  for (let start = 0; start < set.count; start += batch) {
    const k = Math.min(batch, set.count - start);
    const res = await graphs.runStaged(preprocess(set, m.input.preprocessing, start, k), id);
    const outs = [...res.ramps.map((r) => r.logits), res.logits];
    outs.forEach((logits, e) => {
      const c = batchConfidence(logits, C);
      for (let row = 0; row < k; row++) {
        pred[(start + row) * exits + e] = c.pred[row] as number;
        loss[(start + row) * exits + e] = c.loss[row] as number;
      }
    });
  }
  const ms = performance.now() - t0;
  let right = 0;
  for (let i = 0; i < set.count; i++) if (pred[i * exits + n] === set.labels[i]) right++;
  const file: FeedbackFile = {
    format: FEEDBACK_FORMAT,
    supernet: m.name,
    subnet: id,
    stages: [...sub.stages],
    classes: C,
    count: set.count,
    source,
    encoding: 'branched',
    layout: 'row-major [count x (stages + 1)]: every ramp in chain order, then the final output; loss = 1 - max softmax',
    labels: b64(set.labels.slice(0, set.count)),
    pred: b64(pred),
    loss: b64(loss),
  };
  const path = join(values.out, `exits-ramps-${id}.json`);
  writeFileSync(path, JSON.stringify(file));
  const row = { subnet: id, stages: n, images: set.count, final_top1: right / set.count, manifest_top1: sub.top1 ?? null, seconds: Math.round(ms) / 1000, file: path };
  summary.push(row);
  process.stderr.write(`${JSON.stringify(row)}\n`);
}
await graphs.close();
console.log(JSON.stringify({ bench: 'exits/collect', supernet: m.name, source, command: `node dist-bench/bench/exits/collect.js --subnets ${values.subnets}`, subnets: summary }, null, 1));
