/** Compute-saving staged runs: rows the callback reports exited leave the later stages. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Executor } from '../../src/runtime/executor.js';
import { Catalogue } from '../../src/supernet/catalogue.js';
import { loadSample, maxAbsDiff, SUPERNET_DIR } from '../helpers.js';

const cat = Catalogue.load(SUPERNET_DIR);
const { x } = loadSample(cat);
let ex: Executor;

beforeAll(async () => {
  ex = await Executor.start(SUPERNET_DIR, { threads: 1, intraOpThreads: 1, executionProvider: 'cpu', maxBatch: 64, encoding: 'branched' });
});
afterAll(async () => {
  await ex.close();
});

describe('executor: compute-saving staged runs', () => {
  it('drops exited rows from later stages; the rows that stay match the whole graph', async () => {
    const id = 'r28_d333_w32-64-128';
    const n = 16;
    const whole = await ex.run(x.slice(0, n * 784), id, { mode: 'whole' });
    const seen: { stage: string; rows: number[] }[] = [];
    const res = await ex.run(x.slice(0, n * 784), id, {
      mode: 'staged',
      saveCompute: true,
      onStage: (stage, logits, rows) => {
        seen.push({ stage, rows: Array.from(rows ?? []) });
        expect(logits.length).toBe((rows?.length ?? 0) * 10);
        // even rows leave after the first stage, rows 1 and 3 after the second
        if (seen.length === 1) return Array.from(rows ?? []).filter((r) => r % 2 === 0);
        if (seen.length === 2) return [1, 3];
        return [];
      },
    });
    expect(seen[0]!.rows).toHaveLength(n);
    expect(seen[1]!.rows).toEqual([1, 3, 5, 7, 9, 11, 13, 15]);
    expect(seen[2]!.rows).toEqual([5, 7, 9, 11, 13, 15]);
    expect(seen).toHaveLength(cat.subnet(id).stages.length);
    expect(Array.from(res.rows ?? [])).toEqual([5, 7, 9, 11, 13, 15]);
    const expected = new Float32Array(6 * 10);
    [5, 7, 9, 11, 13, 15].forEach((r, i) => expected.set(whole.logits.subarray(r * 10, (r + 1) * 10), i * 10));
    expect(maxAbsDiff(res.logits, expected)).toBeLessThan(1e-4);
  });

  it('stops early when every row has left', async () => {
    const res = await ex.run(x.slice(0, 4 * 784), 'r28_d333_w32-64-128', { mode: 'staged', saveCompute: true, onStage: (_s, _l, rows) => Array.from(rows ?? []) });
    expect(res.rows).toHaveLength(0);
    expect(res.logits).toHaveLength(0);
    expect(res.ramps).toHaveLength(1);
  });
});
