/**
 * Feedback: what the end of a staged batch tells the exit loops about each input. Apparate lets
 * the whole batch run to the final layer, so every input (released early or not) yields every
 * ramp's answer and the final answer; accuracy is measured against the final output.
 */
import { batchConfidence } from './softmax.js';

/** One input's outcome at every ramp of its subnet's chain and at the final head. */
export interface FeedbackRecord {
  /** `1 - max softmax` at each ramp, in chain order. */
  readonly loss: ArrayLike<number>;
  /** Argmax at each ramp, in chain order. */
  readonly pred: ArrayLike<number>;
  readonly finalPred: number;
  readonly finalLoss: number;
  /** Ground truth, when the caller knows it (evaluation, labelled traffic). */
  readonly label?: number;
  /** Ramp (chain index) whose answer the live policy released for this input; -1 = the final output; absent = unknown. */
  readonly exitedAt?: number;
  /** Stage (chain index) after which that answer was released, when later than `exitedAt` (recall); -1 = final. */
  readonly releasedAfter?: number;
}

/** Does ramp `j`'s answer agree with the final output? (j = -1: the final itself.) */
export function agrees(r: FeedbackRecord, j: number): boolean {
  return j < 0 || r.pred[j] === r.finalPred;
}

/**
 * Feedback records of one finished batch: `ramps[j]` holds ramp j's logits (batch x classes),
 * `final` the head's. `exitedAt[row]` says where each row was released, when known.
 */
export function recordsFromLogits(
  ramps: readonly ArrayLike<number>[],
  final: ArrayLike<number>,
  classes: number,
  extra: { readonly labels?: ArrayLike<number>; readonly exitedAt?: ArrayLike<number> } = {},
): FeedbackRecord[] {
  const fin = batchConfidence(final, classes);
  const per = ramps.map((l) => batchConfidence(l, classes));
  const out: FeedbackRecord[] = [];
  for (let row = 0; row < fin.pred.length; row++) {
    const loss = new Float64Array(per.length);
    const pred = new Int32Array(per.length);
    per.forEach((c, j) => {
      loss[j] = c.loss[row] as number;
      pred[j] = c.pred[row] as number;
    });
    const label = extra.labels?.[row];
    const exitedAt = extra.exitedAt?.[row];
    out.push({
      loss,
      pred,
      finalPred: fin.pred[row] as number,
      finalLoss: fin.loss[row] as number,
      ...(label !== undefined ? { label } : {}),
      ...(exitedAt !== undefined ? { exitedAt } : {}),
    });
  }
  return out;
}

/**
 * The most recent `capacity` records of one subnet (a ring buffer), plus running totals. The
 * fast loop tunes on it, the slow loop computes utilities on it, the estimators read it.
 */
export class FeedbackWindow {
  private readonly buf: (FeedbackRecord | undefined)[];
  private next = 0;
  private filled = 0;
  /** Records ever pushed. */
  total = 0;

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`window capacity must be a positive integer, got ${capacity}`);
    this.buf = new Array<FeedbackRecord | undefined>(capacity);
  }

  push(records: readonly FeedbackRecord[]): void {
    for (const r of records) {
      this.buf[this.next] = r;
      this.next = (this.next + 1) % this.capacity;
      this.filled = Math.min(this.filled + 1, this.capacity);
      this.total++;
    }
  }

  get size(): number {
    return this.filled;
  }

  /** The records held, oldest first (a copy). */
  records(): FeedbackRecord[] {
    return this.latest(this.filled);
  }

  /** The newest `n` records, oldest first. */
  latest(n: number): FeedbackRecord[] {
    const k = Math.min(n, this.filled);
    const out: FeedbackRecord[] = [];
    for (let i = k; i >= 1; i--) out.push(this.buf[(this.next - i + this.capacity) % this.capacity] as FeedbackRecord);
    return out;
  }

  clear(): void {
    this.buf.fill(undefined);
    this.next = 0;
    this.filled = 0;
  }
}
