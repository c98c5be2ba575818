/**
 * Apparate's exit rule: an input leaves at the first active ramp j whose confidence loss
 * `1 - max softmax` is below that ramp's threshold tau_j. tau = 0 never exits, so an inactive
 * ramp and a ramp switched off in an emergency are the same thing: a zero threshold.
 */
import { agrees, type FeedbackRecord } from './feedback.js';
import { latencyAt, type ExitLatency } from './latency.js';
import { rowConfidence } from './softmax.js';

/** First ramp whose loss is below its threshold, or -1 (the input runs to the final output). */
export function exitRampOf(loss: ArrayLike<number>, thresholds: ArrayLike<number>): number {
  const n = Math.min(loss.length, thresholds.length);
  for (let j = 0; j < n; j++) if ((loss[j] as number) < (thresholds[j] as number)) return j;
  return -1;
}

/** Where and with what one input exits. */
export interface ExitDecision {
  readonly exit: boolean;
  /** Ramp (chain index) it exits at, -1 when it does not exit on the ramps seen so far. */
  readonly ramp: number;
  /** The exiting ramp's argmax (-1 when it does not exit). */
  readonly prediction: number;
  /** The exiting ramp's `1 - max softmax` (NaN when it does not exit). */
  readonly loss: number;
}

/**
 * The Apparate decision for every row of a batch given the ramp logits seen so far
 * (`rampLogitsSoFar[j]` = ramp j's batch x classes logits). Pure: the same inputs give the same
 * decisions, whichever stage the caller is at.
 */
export function decideExits(rampLogitsSoFar: readonly ArrayLike<number>[], classes: number, thresholds: ArrayLike<number>): ExitDecision[] {
  const first = rampLogitsSoFar[0];
  if (!first) return [];
  const rows = Math.floor(first.length / classes);
  const out: ExitDecision[] = [];
  for (let row = 0; row < rows; row++) {
    let d: ExitDecision = { exit: false, ramp: -1, prediction: -1, loss: NaN };
    for (let j = 0; j < rampLogitsSoFar.length; j++) {
      const tau = (thresholds[j] ?? 0) as number;
      if (tau <= 0) continue;
      const c = rowConfidence(rampLogitsSoFar[j] as ArrayLike<number>, classes, row);
      if (c.loss < tau) {
        d = { exit: true, ramp: j, prediction: c.pred, loss: c.loss };
        break;
      }
    }
    out.push(d);
  }
  return out;
}

/** Accuracy (agreement with the final output) and latency of a threshold vector on feedback. */
export interface ThresholdOutcome {
  readonly accuracy: number;
  readonly meanLatency: number;
  /** Inputs exiting at each ramp; `exits[n]` = not exiting (final). */
  readonly exits: Int32Array;
}

export function evaluateThresholds(records: readonly FeedbackRecord[], thresholds: ArrayLike<number>, lat: ExitLatency): ThresholdOutcome {
  const n = lat.toRamp.length;
  const exits = new Int32Array(n + 1);
  let agree = 0;
  let time = 0;
  for (const r of records) {
    const j = exitRampOf(r.loss, thresholds);
    const k = j < 0 ? n : j;
    exits[k] = (exits[k] as number) + 1;
    if (agrees(r, j)) agree++;
    time += latencyAt(lat, j);
  }
  const m = records.length || 1;
  return { accuracy: records.length ? agree / m : 1, meanLatency: records.length ? time / m : lat.full, exits };
}
