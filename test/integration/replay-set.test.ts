/**
 * The replay set (manifest `replay_set`) is what replay sends and scores served accuracy against.
 * It must be the set the subnets' top-1 was measured on, so live served accuracy and the
 * simulator's (manifest top-1 of the serving subnets) measure the same thing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { argmax, SupernetGraphs } from '../../src/runtime/supernet-graphs.js';
import { Catalogue } from '../../src/supernet/catalogue.js';
import { loadReplaySet, loadTestSample } from '../../src/supernet/sample.js';
import { SUPERNET_DIR } from '../helpers.js';

let cat: Catalogue;
let graphs: SupernetGraphs;

beforeAll(async () => {
  cat = Catalogue.load(SUPERNET_DIR);
  graphs = await SupernetGraphs.open(cat);
});
afterAll(async () => graphs?.close());

describe('replay set', () => {
  it('is the whole Fashion-MNIST test set: 10,000 images, 1,000 of each class', () => {
    const { sample, x } = loadReplaySet(cat);
    expect(sample.count).toBe(10000);
    expect(x.length).toBe(10000 * cat.sampleSize);
    const perClass = new Array<number>(10).fill(0);
    for (const l of sample.labels) perClass[l] = (perClass[l] ?? 0) + 1;
    expect(perClass).toEqual(new Array<number>(10).fill(1000));
    // larger than the 256-image test sample the tests use
    expect(sample.count).toBeGreaterThan(loadTestSample(cat).sample.count);
  });

  it("onnxruntime's top-1 on it reproduces the manifest's top-1 (measured with PyTorch) for the fastest and the most accurate subnet", async () => {
    const { sample, x } = loadReplaySet(cat);
    const pareto = cat.manifest.pareto!;
    for (const id of [pareto[0]!, pareto[pareto.length - 1]!]) {
      const top1 = cat.manifest.subnets.find((s) => s.id === id)!.top1!;
      let correct = 0;
      for (let start = 0; start < sample.count; start += 500) {
        const n = Math.min(500, sample.count - start);
        const pred = argmax(await graphs.runWhole(x.subarray(start * cat.sampleSize, (start + n) * cat.sampleSize), id), cat.numClasses);
        for (let i = 0; i < n; i++) if (pred[i] === sample.labels[start + i]) correct++;
      }
      // the same images: equal up to a few numerical near-ties between the two frameworks
      expect(Math.abs(correct - Math.round(top1 * 10000)), id).toBeLessThanOrEqual(5);
    }
  });
});
