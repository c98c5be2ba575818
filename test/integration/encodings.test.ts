/**
 * The SubNetAct whole graph and the stage chain, in both encodings (run-time slices and constant
 * width branches), must compute what each subnet's static graph computes (1e-4), for every
 * subnet, at batch sizes 1, 7 and 64, with subnets switched in a random order between
 * consecutive runs on the same sessions.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SupernetGraphs } from '../../src/runtime/supernet-graphs.js';
import { Catalogue } from '../../src/supernet/catalogue.js';
import { loadSample, maxAbsDiff, rng, shuffle, SUPERNET_DIR } from '../helpers.js';

const TOL = 1e-4;
let cat: Catalogue;
let graphs: SupernetGraphs;
let branched: SupernetGraphs;
let pool: Float32Array;

beforeAll(async () => {
  cat = Catalogue.load(SUPERNET_DIR);
  graphs = await SupernetGraphs.open(cat);
  branched = await SupernetGraphs.open(cat, undefined, 'branched');
  pool = loadSample(cat).x;
});
afterAll(async () => {
  await graphs?.close();
  await branched?.close();
});

describe('SubNetAct encodings agree with the static per-subnet graphs', () => {
  it('for every subnet at batch 1, 7 and 64 in random order', async () => {
    const random = rng(2024);
    const per = cat.sampleSize;
    const poolCount = pool.length / per;
    const jobs = shuffle(cat.subnets.flatMap((s) => [1, 7, 64].map((batch) => ({ id: s.id, batch }))), random);
    const failures: string[] = [];
    for (const { id, batch } of jobs) {
      const start = Math.floor(random() * (poolCount - batch));
      const x = pool.slice(start * per, (start + batch) * per);
      const ref = await graphs.runStatic(x, id);
      expect(ref.length).toBe(batch * cat.numClasses);
      const whole = await graphs.runWhole(x, id);
      const staged = await graphs.runStaged(x, id);
      const bWhole = await branched.runWhole(x, id);
      const bStaged = await branched.runStaged(x, id);
      const d = [ref, whole, staged.logits, bWhole, bStaged.logits].slice(1).map((y) => maxAbsDiff(ref, y));
      if (!d.every((v) => v <= TOL))
        failures.push(`${id} batch ${batch}: sliced whole/staged, branched whole/staged ${d.map((v) => v.toExponential(2)).join(' ')}`);
      expect(bStaged.ramps.map((r) => r.stage)).toEqual(cat.subnet(id).stages);
      expect(staged.ramps.map((r) => r.stage)).toEqual(cat.subnet(id).stages);
      for (const r of staged.ramps) expect(r.logits.length).toBe(batch * cat.numClasses);
    }
    expect(failures).toEqual([]);
    expect(jobs.length).toBe(cat.subnets.length * 3);
  });

  it('switching subnet between runs does not change results (same input, A B A)', async () => {
    const [a, b] = [cat.subnets[0]!.id, cat.subnets[cat.subnets.length - 1]!.id];
    const x = pool.slice(0, 7 * cat.sampleSize);
    const first = await graphs.runWhole(x, a);
    await graphs.runWhole(x, b);
    expect(maxAbsDiff(first, await graphs.runWhole(x, a))).toBe(0);
  });

  it('staged mode reports each ramp as soon as its stage finishes, in order', async () => {
    const id = cat.subnets[cat.subnets.length - 1]!.id;
    const seen: string[] = [];
    await graphs.runStaged(pool.slice(0, 2 * cat.sampleSize), id, (stage, logits) => {
      expect(logits.length).toBe(2 * cat.numClasses);
      seen.push(stage);
    });
    expect(seen).toEqual(cat.subnet(id).stages);
  });
});
