/**
 * Row-wise confidence of a batch of logits: argmax, max softmax, and the loss proxy both exit
 * policies start from, `1 - max softmax`. Pure functions over `batch x classes` row-major arrays.
 */

/** One row's answer and its confidence loss. */
export interface RowConfidence {
  /** Index of the largest logit (the first one on ties, as the runtime's argmax). */
  readonly pred: number;
  /** 1 - max softmax, in [0, 1 - 1/classes]. */
  readonly loss: number;
}

/**
 * Argmax and `1 - max softmax` of row `row`. The loss is computed as rest / (1 + rest) with
 * rest = sum over the other classes of exp(l_k - l_max), not as 1 - p_max: confident ramps have
 * losses near 1e-6 and `1 - p_max` would lose them to cancellation, and the thresholds and the
 * recall grid both live at that end of the scale.
 */
export function rowConfidence(logits: ArrayLike<number>, classes: number, row: number): RowConfidence {
  const base = row * classes;
  let pred = 0;
  let max = -Infinity;
  for (let k = 0; k < classes; k++) {
    const v = logits[base + k] as number;
    if (v > max) {
      max = v;
      pred = k;
    }
  }
  let rest = 0;
  for (let k = 0; k < classes; k++) if (k !== pred) rest += Math.exp((logits[base + k] as number) - max);
  return { pred, loss: rest / (1 + rest) };
}

export interface BatchConfidence {
  readonly pred: Int32Array;
  readonly loss: Float64Array;
}

/** Argmax and `1 - max softmax` of every row. */
export function batchConfidence(logits: ArrayLike<number>, classes: number): BatchConfidence {
  const rows = Math.floor(logits.length / classes);
  const pred = new Int32Array(rows);
  const loss = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    const c = rowConfidence(logits, classes, r);
    pred[r] = c.pred;
    loss[r] = c.loss;
  }
  return { pred, loss };
}

/** Row-wise max softmax (the confidence itself). */
export function maxSoftmax(logits: ArrayLike<number>, classes: number): Float64Array {
  const { loss } = batchConfidence(logits, classes);
  return loss.map((l) => 1 - l);
}

/** Row-wise argmax. */
export function argmaxRows(logits: ArrayLike<number>, classes: number): Int32Array {
  return batchConfidence(logits, classes).pred;
}
