/**
 * The loss proxy the recall policy (and deadline answers) compare across exits. Raw
 * `1 - max softmax` is not comparable between ramps: an early ramp at 0.02 is wrong far more
 * often than a late ramp at 0.02. So each ramp's raw loss is mapped to the probability that its
 * answer disagrees with the final output, estimated from feedback per raw-loss bin:
 *   e[j][b] = (disagreements + m * p_j) / (inputs + m)      (shrunk to ramp j's overall rate p_j)
 * made non-decreasing in the raw loss (pool-adjacent-violators), because a less confident
 * answer should never look better. The final output's proxy is 0: it agrees with itself.
 */
import { agrees, type FeedbackRecord } from './feedback.js';

/** Lower edges of the raw-loss bins (the last bin runs to 1): dense where confident ramps live. */
export const RAW_LOSS_EDGES: readonly number[] = Object.freeze([0, 1e-5, 1e-4, 3e-4, 1e-3, 3e-3, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.45, 0.6]);

export function rawBin(loss: number, edges: readonly number[] = RAW_LOSS_EDGES): number {
  let b = 0;
  while (b + 1 < edges.length && loss >= (edges[b + 1] as number)) b++;
  return b;
}

export interface CalibrationSettings {
  /** Pseudo-count pulling each bin towards its ramp's overall disagreement rate. */
  readonly strength: number;
  /** Per ramp: prior disagreement rate (e.g. 1 - the manifest's `agreement`) used with `priorWeight`. */
  readonly prior?: ArrayLike<number>;
  /** Pseudo-count of the per-ramp prior. */
  readonly priorWeight: number;
}

export const DEFAULT_CALIBRATION: CalibrationSettings = Object.freeze({ strength: 4, priorWeight: 20 });

/** Weighted pool-adjacent-violators: the non-decreasing sequence closest to `v` in weighted L2. */
export function isotonic(v: readonly number[], w: readonly number[]): number[] {
  const blocks: { sum: number; weight: number; count: number }[] = [];
  v.forEach((x, i) => {
    blocks.push({ sum: x * (w[i] as number), weight: w[i] as number, count: 1 });
    while (blocks.length > 1) {
      const b = blocks[blocks.length - 1] as { sum: number; weight: number; count: number };
      const a = blocks[blocks.length - 2] as { sum: number; weight: number; count: number };
      if (a.sum / a.weight <= b.sum / b.weight) break;
      blocks.pop();
      a.sum += b.sum;
      a.weight += b.weight;
      a.count += b.count;
    }
  });
  return blocks.flatMap((b) => Array<number>(b.count).fill(b.sum / b.weight));
}

export class Calibration {
  private constructor(
    /** `table[j][b]`: calibrated disagreement of ramp j at raw-loss bin b. */
    readonly table: readonly (readonly number[])[],
    readonly edges: readonly number[],
  ) {}

  static fit(records: readonly FeedbackRecord[], ramps: number, settings: CalibrationSettings = DEFAULT_CALIBRATION, edges = RAW_LOSS_EDGES): Calibration {
    const table: number[][] = [];
    for (let j = 0; j < ramps; j++) {
      const n = new Array<number>(edges.length).fill(0);
      const d = new Array<number>(edges.length).fill(0);
      for (const r of records) {
        const b = rawBin(r.loss[j] as number, edges);
        n[b] = (n[b] as number) + 1;
        if (!agrees(r, j)) d[b] = (d[b] as number) + 1;
      }
      const prior = settings.prior?.[j] ?? 0.5;
      const total = n.reduce((a, x) => a + x, 0);
      const dis = d.reduce((a, x) => a + x, 0);
      const p = (dis + settings.priorWeight * prior) / (total + settings.priorWeight);
      const raw = n.map((ni, b) => ((d[b] as number) + settings.strength * p) / (ni + settings.strength));
      table.push(isotonic(raw, n.map((ni) => ni + settings.strength)));
    }
    return new Calibration(table, edges);
  }

  /** Calibrated loss of ramp `j` at raw loss `loss`. */
  loss(j: number, loss: number): number {
    return (this.table[j] as readonly number[])[rawBin(loss, this.edges)] as number;
  }

  /** Proxy losses of one record at every exit: its ramps, then the final output (0). */
  proxies(r: FeedbackRecord): Float64Array {
    const out = new Float64Array(this.table.length + 1);
    for (let j = 0; j < this.table.length; j++) out[j] = this.loss(j, r.loss[j] as number);
    return out;
  }
}
