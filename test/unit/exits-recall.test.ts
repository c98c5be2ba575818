import { describe, expect, it } from 'vitest';
import { buildTransitions, makeGrid, RecallPolicy, solveDynamicIndex, type DynamicIndex, type Transitions } from '../../src/exits/recall.js';
import { rng } from '../helpers.js';

/** A random chain: n exits, grid V, random initial distribution and transitions. */
function randomChain(n: number, V: number[], r: () => number): Transitions {
  const G = V.length;
  const dist = (): number[] => {
    const w = V.map(() => r() + 0.05);
    const s = w.reduce((a, b) => a + b, 0);
    return w.map((x) => x / s);
  };
  const P = [new Float64Array(0)];
  for (let i = 1; i < n; i++) P.push(Float64Array.from(Array.from({ length: G }, dist).flat()));
  return { grid: Float64Array.from(V), exits: n, initial: Float64Array.from(dist()), P };
}

/**
 * Brute force: every deterministic stopping policy that may depend on the whole history of
 * observed loss bins (a continue/stop bit per history after exits 0..i-1, i = 1..n-1); the
 * expected objective of each, computed exactly over all paths; the minimum.
 */
function bruteForce(t: Transitions, costs: number[], lambda: number): number {
  const G = t.grid.length;
  const n = t.exits;
  const histories: number[][] = [];
  for (let len = 1; len < n; len++) {
    const all: number[][] = [[]];
    for (let k = 0; k < len; k++) {
      const next: number[][] = [];
      for (const h of all) for (let b = 0; b < G; b++) next.push([...h, b]);
      all.splice(0, all.length, ...next);
    }
    histories.push(...all);
  }
  const key = (h: number[]): string => h.join(',');
  const index = new Map(histories.map((h, i) => [key(h), i]));
  let best = Infinity;
  for (let mask = 0; mask < 2 ** histories.length; mask++) {
    const goOn = (h: number[]): boolean => ((mask >> (index.get(key(h)) as number)) & 1) === 1;
    // expected objective from history h (exits 0..h.length-1 run), with cost paid so far
    const value = (h: number[], paid: number): number => {
      const x = Math.min(...h);
      if (h.length === n || !goOn(h)) return lambda * (t.grid[x] as number) + (1 - lambda) * paid;
      const P = t.P[h.length] as Float64Array;
      const a = h[h.length - 1] as number;
      let v = 0;
      for (let b = 0; b < G; b++) v += (P[a * G + b] as number) * value([...h, b], paid + (costs[h.length] as number));
      return v;
    };
    let total = 0;
    for (let b = 0; b < G; b++) total += (t.initial[b] as number) * value([b], costs[0] as number);
    best = Math.min(best, total);
  }
  return best;
}

/** Exact expected objective of the online dynamic-index policy (by enumerating paths). */
function policyValue(t: Transitions, d: DynamicIndex, costs: number[]): number {
  const G = t.grid.length;
  const policy = new RecallPolicy(d);
  let total = 0;
  const walk = (bins: number[], p: number): void => {
    if (bins.length === t.exits) {
      const { best, last } = policy.run(bins);
      let c = 0;
      for (let i = 0; i <= last; i++) c += costs[i] as number;
      total += p * (d.lambda * (t.grid[bins[best] as number] as number) + (1 - d.lambda) * c);
      return;
    }
    for (let b = 0; b < G; b++) {
      const q = bins.length === 0 ? (t.initial[b] as number) : ((t.P[bins.length] as Float64Array)[(bins[bins.length - 1] as number) * G + b] as number);
      walk([...bins, b], p * q);
    }
  };
  walk([], 1);
  return total;
}

describe('T-Tamer recall DP', () => {
  const cases: { n: number; V: number[] }[] = [
    { n: 2, V: [0, 0.2, 0.5, 1] },
    { n: 3, V: [0, 0.3, 1] },
    { n: 3, V: [0.05, 0.1, 0.6] },
    { n: 4, V: [0, 0.7] },
  ];
  for (const { n, V } of cases)
    it(`matches brute force over all stopping policies: ${n} exits, ${V.length}-point grid`, () => {
      const r = rng(n * 100 + V.length);
      for (let trial = 0; trial < 6; trial++) {
        const t = randomChain(n, V, r);
        const costs = Array.from({ length: n }, () => r() * 0.3);
        const lambda = [0.3, 0.5, 0.8, 0.95][trial % 4] as number;
        const d = solveDynamicIndex(t, costs, lambda);
        const brute = bruteForce(t, costs, lambda);
        expect(d.expected).toBeCloseTo(brute, 10);
        // the online rule driven by sigma achieves exactly the DP's value
        expect(policyValue(t, d, costs)).toBeCloseTo(d.expected, 10);
      }
    });

  it('returns the best exit seen so far, not the last one run', () => {
    const never: DynamicIndex = { lambda: 1, expected: 0, sigma: [new Int32Array(3).fill(-1), new Int32Array(3).fill(-1), new Int32Array(3).fill(-1)] };
    expect(new RecallPolicy(never).run([1, 0, 2])).toEqual({ best: 1, last: 2 });
    const stopLow: DynamicIndex = { lambda: 1, expected: 0, sigma: [new Int32Array(3).fill(-1), Int32Array.from([0, 0, 0]), Int32Array.from([0, 0, 0])] };
    expect(new RecallPolicy(stopLow).run([0, 2, 2])).toEqual({ best: 0, last: 0 });
    expect(new RecallPolicy(stopLow).run([2, 0, 1])).toEqual({ best: 1, last: 1 });
  });

  it('estimates transitions from feedback, rows normalised and shrunk to the marginal', () => {
    const V = Float64Array.from([0, 0.5, 1]);
    const t = buildTransitions(
      [
        [0, 0],
        [0, 0],
        [1, 0.5],
        [1, 1],
      ],
      V,
      0,
    );
    expect(Array.from(t.initial)).toEqual([0.5, 0, 0.5]);
    expect(Array.from((t.P[1] as Float64Array).subarray(0, 3))).toEqual([1, 0, 0]);
    expect(Array.from((t.P[1] as Float64Array).subarray(6, 9))).toEqual([0, 0.5, 0.5]);
    // a previous bin never seen (V = 0.5) falls back to the next exit's marginal
    expect(Array.from((t.P[1] as Float64Array).subarray(3, 6))).toEqual([0.5, 0.25, 0.25]);
    const s = buildTransitions([[0, 0], [1, 1]], V, 1);
    // seen row, shrunk with one pseudo-input towards the marginal [0.5, 0, 0.5]
    expect(Array.from((s.P[1] as Float64Array).subarray(0, 3))).toEqual([0.75, 0, 0.25]);
    expect(makeGrid(4)[0]).toBe(0);
    expect(makeGrid(4)[3]).toBeCloseTo(1, 12);
  });
});
