/**
 * T-Tamer's recall policy: exits 1..n of a chain (here: every ramp of the subnet, then the final
 * output) each cost c_i and reveal a loss R_i; the answer is the best exit seen so far. With the
 * losses on a grid V and Markov transitions P_i[a][b] = P(R_i = V[b] | R_{i-1} = V[a]) estimated
 * from feedback, backward dynamic programming gives the optimal policy for the objective
 * lambda * (loss of the answer) + (1 - lambda) * (total cost):
 *
 *   Phi[n+1][a][x] = lambda V[x]
 *   cont[i][a][x]  = (1 - lambda) c_i + sum_b P_i[a][b] Phi[i+1][b][min(x, b)]
 *   Phi[i][a][x]   = min(lambda V[x], cont[i][a][x])
 *   sigma[i][a]    = largest x with lambda V[x] <= cont[i][a][x]         (the dynamic index)
 *
 * The stop region in x is a down-set (cont grows at most as fast as lambda V in x), so "stop iff
 * X <= sigma" is exact. Online: run exit 1, X = R_1; before exit i, stop if X <= sigma[i][R_{i-1}];
 * after it, keep it if R_i < X. Indices are 0-based in the code (exit 0 is always run).
 */

/** A loss grid V: 0, then `size - 1` points spaced geometrically from 1e-3 to 1. */
export function makeGrid(size: number): Float64Array {
  if (!Number.isInteger(size) || size < 2) throw new RangeError(`grid size must be an integer >= 2, got ${size}`);
  const g = new Float64Array(size);
  for (let k = 1; k < size; k++) g[k] = size === 2 ? 1 : 10 ** (-3 + (3 * (k - 1)) / (size - 2));
  return g;
}

/** Index of the grid point nearest to `v` (the lower one on a tie). */
export function binOf(grid: ArrayLike<number>, v: number): number {
  let best = 0;
  let d = Infinity;
  for (let k = 0; k < grid.length; k++) {
    const e = Math.abs((grid[k] as number) - v);
    if (e < d) {
      d = e;
      best = k;
    }
  }
  return best;
}

export interface Transitions {
  readonly grid: Float64Array;
  /** Number of exits in the chain. */
  readonly exits: number;
  /** Distribution of the first exit's loss bin. */
  readonly initial: Float64Array;
  /** `P[i]` (i >= 1): |V| x |V| row-major, P[i][a * |V| + b] = P(R_i = V[b] | R_{i-1} = V[a]). P[0] is empty. */
  readonly P: readonly Float64Array[];
}

/**
 * Estimates the chain's transitions from feedback: `sequences[r][i]` = input r's loss at exit i
 * (values, binned to the nearest grid point). Each row is shrunk towards exit i's marginal with
 * `smoothing` pseudo-inputs, so a previous-loss bin seen rarely (or never) still has a sensible
 * next-loss distribution.
 */
export function buildTransitions(sequences: readonly ArrayLike<number>[], grid: Float64Array, smoothing = 1): Transitions {
  const G = grid.length;
  const exits = sequences[0]?.length ?? 0;
  const bins = sequences.map((s) => Int32Array.from({ length: exits }, (_, i) => binOf(grid, s[i] as number)));
  const initial = new Float64Array(G);
  for (const b of bins) initial[b[0] as number]! += 1;
  const m = bins.length || 1;
  for (let k = 0; k < G; k++) initial[k] = bins.length ? (initial[k] as number) / m : k === 0 ? 1 : 0;
  const P: Float64Array[] = [new Float64Array(0)];
  for (let i = 1; i < exits; i++) {
    const counts = new Float64Array(G * G);
    const marginal = new Float64Array(G);
    for (const b of bins) {
      counts[(b[i - 1] as number) * G + (b[i] as number)]! += 1;
      marginal[b[i] as number]! += 1;
    }
    for (let k = 0; k < G; k++) marginal[k] = (marginal[k] as number) / m;
    const p = new Float64Array(G * G);
    for (let a = 0; a < G; a++) {
      let row = 0;
      for (let b = 0; b < G; b++) row += counts[a * G + b] as number;
      for (let b = 0; b < G; b++)
        p[a * G + b] = row + smoothing > 0 ? ((counts[a * G + b] as number) + smoothing * (marginal[b] as number)) / (row + smoothing) : (marginal[b] as number);
    }
    P.push(p);
  }
  return { grid, exits, initial, P };
}

export interface DynamicIndex {
  readonly lambda: number;
  /** `sigma[i][a]` (i >= 1): largest grid index x at which to stop before exit i given R_{i-1} = V[a]; -1 = never stop. */
  readonly sigma: readonly Int32Array[];
  /** Expected objective of the optimal policy under the transitions (exit 0's cost included). */
  readonly expected: number;
}

/** Backward DP for the optimal recall policy. `costs[i]` = cost of running exit i. */
export function solveDynamicIndex(t: Transitions, costs: ArrayLike<number>, lambda: number): DynamicIndex {
  const G = t.grid.length;
  const n = t.exits;
  const V = t.grid;
  // next[b * G + x] = Phi[i+1][b][x]; at the end of the chain the answer's loss is all that is left
  let next = new Float64Array(G * G);
  for (let b = 0; b < G; b++) for (let x = 0; x < G; x++) next[b * G + x] = lambda * (V[x] as number);
  const sigma: Int32Array[] = new Array<Int32Array>(n);
  for (let i = n - 1; i >= 1; i--) {
    const P = t.P[i] as Float64Array;
    const cur = new Float64Array(G * G);
    const sig = new Int32Array(G).fill(-1);
    const c = (1 - lambda) * (costs[i] as number);
    for (let a = 0; a < G; a++)
      for (let x = 0; x < G; x++) {
        let cont = c;
        for (let b = 0; b < G; b++) cont += (P[a * G + b] as number) * (next[b * G + Math.min(x, b)] as number);
        const stop = lambda * (V[x] as number);
        if (stop <= cont) sig[a] = x; // down-set: the last x where stopping wins is the index
        cur[a * G + x] = Math.min(stop, cont);
      }
    sigma[i] = sig;
    next = cur;
  }
  sigma[0] = new Int32Array(G).fill(-1);
  let expected = (1 - lambda) * ((costs[0] as number) ?? 0);
  for (let a = 0; a < G; a++) expected += (t.initial[a] as number) * (n > 1 ? (next[a * G + a] as number) : lambda * (V[a] as number));
  return { lambda, sigma, expected };
}

/** One input's progress through the recall policy. */
export interface RecallState {
  /** Exit whose answer is returned (the best seen so far); -1 before exit 0. */
  best: number;
  /** Grid index of the best loss seen (X). */
  bestBin: number;
  /** Grid index of the last exit's loss. */
  lastBin: number;
  /** Last exit consulted. */
  last: number;
  stopped: boolean;
}

export class RecallPolicy {
  constructor(readonly index: DynamicIndex) {}

  start(): RecallState {
    return { best: -1, bestBin: Number.MAX_SAFE_INTEGER, lastBin: -1, last: -1, stopped: false };
  }

  /**
   * Records exit i's loss bin (exits are observed in order) and says whether to stop now, i.e.
   * not to run exit i + 1. Mutates `s`. The answer is then exit `s.best`.
   */
  step(s: RecallState, i: number, bin: number): boolean {
    if (s.stopped) return true;
    s.last = i;
    s.lastBin = bin;
    if (bin < s.bestBin) {
      s.bestBin = bin;
      s.best = i;
    }
    const sig = this.index.sigma[i + 1];
    if (!sig) return (s.stopped = true); // that was the last exit
    return (s.stopped = s.bestBin <= (sig[bin] as number));
  }

  /** Runs the policy over one input's loss bins: the exit answered and the last exit consulted. */
  run(bins: ArrayLike<number>): { best: number; last: number } {
    const s = this.start();
    for (let i = 0; i < bins.length; i++) if (this.step(s, i, bins[i] as number)) break;
    return { best: s.best, last: s.last };
  }
}

/** What one policy does on one input, for fitting lambda and for evaluation. */
export interface ChainSample {
  /** Loss bin at every exit. */
  readonly bins: ArrayLike<number>;
  /** Is exit i's answer right (agrees with the final output, or with the label)? */
  readonly right: ArrayLike<boolean | number>;
}

export interface ChainOutcome {
  readonly accuracy: number;
  /** Mean cost (same unit as the costs). */
  readonly meanCost: number;
}

/** Accuracy and mean cost of a dynamic index on samples; `recall: false` answers the last exit run. */
export function simulateRecall(index: DynamicIndex, samples: readonly ChainSample[], costs: ArrayLike<number>, recall = true): ChainOutcome {
  const policy = new RecallPolicy(index);
  const cum: number[] = [];
  let t = 0;
  for (let i = 0; i < costs.length; i++) cum.push((t += costs[i] as number));
  let right = 0;
  let cost = 0;
  for (const s of samples) {
    const { best, last } = policy.run(s.bins);
    if (s.right[recall ? best : last]) right++;
    cost += cum[last] as number;
  }
  const m = samples.length || 1;
  return { accuracy: samples.length ? right / m : 1, meanCost: cost / m };
}

/**
 * The smallest lambda (in log-odds, by bisection) whose policy keeps accuracy >= target on the
 * samples: the recall counterpart of tuning thresholds under an accuracy budget. Larger lambda
 * weighs loss more, so accuracy grows with it (not strictly; bisection keeps a feasible end).
 */
export function fitLambda(t: Transitions, costs: ArrayLike<number>, samples: readonly ChainSample[], target: number, iterations = 24): DynamicIndex {
  const lam = (z: number): number => 1 / (1 + Math.exp(-z));
  const solve = (z: number): { d: DynamicIndex; ok: boolean } => {
    const d = solveDynamicIndex(t, costs, lam(z));
    return { d, ok: simulateRecall(d, samples, costs).accuracy >= target - 1e-12 };
  };
  let lo = -6;
  let hi = 14;
  const atLo = solve(lo);
  if (atLo.ok) return atLo.d;
  let best = solve(hi);
  if (!best.ok) return solveDynamicIndex(t, costs, 1); // only the final output satisfies it
  for (let k = 0; k < iterations; k++) {
    const mid = (lo + hi) / 2;
    const s = solve(mid);
    if (s.ok) {
      hi = mid;
      best = s;
    } else lo = mid;
  }
  return best.d;
}
