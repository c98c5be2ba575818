/**
 * Accuracy of every subnet recomputed through onnxruntime on the committed test sample must match
 * what the export recorded for that sample with PyTorch (an independent implementation): the same
 * predictions except on numerical near-ties, and so the same sample accuracy.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { argmax, SupernetGraphs } from '../../src/runtime/supernet-graphs.js';
import { Catalogue } from '../../src/supernet/catalogue.js';
import type { LabelledImages } from '../../src/supernet/dataset.js';
import { loadSample, SUPERNET_DIR } from '../helpers.js';

interface Expected {
  indices: number[];
  subnets: Record<string, { predictions: number[]; margins: number[]; ramp_predictions: number[][] }>;
}

const NEAR_TIE = 1e-3;
let cat: Catalogue;
let graphs: SupernetGraphs;
let sample: LabelledImages;
let x: Float32Array;
let expected: Expected;

beforeAll(async () => {
  cat = Catalogue.load(SUPERNET_DIR);
  graphs = await SupernetGraphs.open(cat);
  ({ sample, x } = loadSample(cat));
  expected = JSON.parse(readFileSync(cat.path(cat.manifest.sample!.expected), 'utf8')) as Expected;
});
afterAll(async () => graphs?.close());

describe('accuracy on the committed test sample', () => {
  it('covers every subnet and every sample image', () => {
    expect(Object.keys(expected.subnets).sort()).toEqual(cat.subnets.map((s) => s.id).sort());
    expect(expected.indices.length).toBe(sample.count);
  });

  it('onnxruntime reproduces the recorded predictions and sample accuracy of every subnet', async () => {
    const report: string[] = [];
    for (const s of cat.subnets) {
      const e = expected.subnets[s.id]!;
      const whole = argmax(await graphs.runWhole(x, s.id), cat.numClasses);
      const staged = await graphs.runStaged(x, s.id);
      let hardMismatches = 0;
      let ties = 0;
      let correct = 0;
      let expectedCorrect = 0;
      for (let i = 0; i < sample.count; i++) {
        if (whole[i] === sample.labels[i]) correct++;
        if (e.predictions[i] === sample.labels[i]) expectedCorrect++;
        if (whole[i] !== e.predictions[i]) {
          if ((e.margins[i] ?? 0) < NEAR_TIE) ties++;
          else hardMismatches++;
        }
      }
      if (hardMismatches > 0) report.push(`${s.id}: ${hardMismatches} predictions differ from PyTorch`);
      expect(Math.abs(correct - expectedCorrect)).toBeLessThanOrEqual(ties);
      // ramps: the stage chain's ramp predictions match PyTorch's (allowing one near-tie per ramp)
      staged.ramps.forEach((r, j) => {
        const p = argmax(r.logits, cat.numClasses);
        const exp = e.ramp_predictions[j]!;
        let diff = 0;
        for (let i = 0; i < sample.count; i++) if (p[i] !== exp[i]) diff++;
        if (diff > 1) report.push(`${s.id} ramp ${r.stage}: ${diff} predictions differ`);
      });
      // the sample is a random draw of the test set: its accuracy lies near the manifest's top-1
      const sd = Math.sqrt((s.top1! * (1 - s.top1!)) / sample.count);
      expect(Math.abs(correct / sample.count - s.top1!)).toBeLessThanOrEqual(5 * sd + 1 / sample.count);
    }
    expect(report).toEqual([]);
  });
});
