/**
 * Deadline answers: when an input's deadline comes before its exit (or before the final
 * output), answer with the best prediction seen so far instead of missing the SLO. "Best" is
 * T-Tamer's recall rule: the lowest loss among the ramps already run. The caller supplies the
 * losses it trusts (calibrated when the manager has feedback, raw `1 - max softmax` before).
 */

/** One ramp's answer for one input. */
export interface RampObservation {
  /** Chain index of the ramp. */
  readonly ramp: number;
  readonly prediction: number;
  /** Loss proxy used to compare ramps (lower is better). */
  readonly loss: number;
}

export interface DeadlineAnswer {
  readonly prediction: number;
  /** Ramp whose answer is returned. */
  readonly ramp: number;
  readonly loss: number;
  /** Always true: the answer was forced by the deadline, not chosen by the exit policy. */
  readonly deadline: true;
  /** When it was answered, on the caller's clock. */
  readonly atMs: number;
}

/**
 * The best answer among the ramps seen (lowest loss; on a tie the later ramp, which is deeper),
 * or null when no ramp has run yet and there is nothing to answer with.
 */
export function deadlineAnswer(seen: readonly RampObservation[], nowMs: number): DeadlineAnswer | null {
  let best: RampObservation | null = null;
  for (const o of seen) if (!best || o.loss < best.loss || (o.loss === best.loss && o.ramp > best.ramp)) best = o;
  return best && { prediction: best.prediction, ramp: best.ramp, loss: best.loss, deadline: true, atMs: nowMs };
}
