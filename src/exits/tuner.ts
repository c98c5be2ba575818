/**
 * The fast loop (Apparate's threshold tuning): a greedy hill-climb on the active ramps'
 * thresholds over a window of recent feedback, keeping accuracy (agreement with the final
 * output) at or above 1 - budget.
 *
 *   start from tau = 0 on every ramp (always feasible: nothing exits), step 0.01 per ramp;
 *   each round, try raising each active ramp's tau by its step; among the moves that keep the
 *   accuracy constraint (on the window and on any extra set, e.g. the batch that violated),
 *   take the one with the least accuracy lost per ms of mean latency gained; double that ramp's
 *   step; when no move is feasible, halve every step; stop once every step is below 0.001.
 *
 * Choices the paper leaves open (docs/exits.md): the climb restarts from zero every time (a
 * violated threshold vector is not a feasible start); a step that would capture no input is
 * stretched to just past the next loss observed at that ramp (else a gap in the window's losses
 * wider than the step stalls the climb), and a move that still gains nothing is not taken; ties in the ratio go to the larger latency gain; `safety` tunes to a
 * stricter target than the budget, because thresholds fitted to a window are optimistic about
 * the next inputs.
 */
import type { FeedbackRecord } from './feedback.js';
import type { ExitLatency } from './latency.js';
import { evaluateThresholds, type ThresholdOutcome } from './thresholds.js';

export interface TunerSettings {
  /** Accuracy loss allowed relative to the final output (0.01 = 1%). */
  readonly budget: number;
  /** Fraction of the budget kept in reserve when tuning: the target is 1 - budget * (1 - safety). */
  readonly safety: number;
  readonly startStep: number;
  readonly minStep: number;
  /** Highest threshold considered (1 exits everything). */
  readonly maxThreshold: number;
  /** Guard against a runaway climb; never reached in practice (each success doubles a step). */
  readonly maxIterations: number;
}

export const DEFAULT_TUNER: TunerSettings = Object.freeze({
  budget: 0.01,
  safety: 0.5,
  startStep: 0.01,
  minStep: 0.001,
  maxThreshold: 1,
  maxIterations: 10_000,
});

export interface TuneRequest {
  /** The window: the constraint must hold on it. */
  readonly records: readonly FeedbackRecord[];
  /** Chain indices of the ramps that may exit (all others keep tau = 0). */
  readonly active: readonly number[];
  readonly latency: ExitLatency;
  /** Further record sets on which the constraint must hold too (the batch that violated). */
  readonly also?: readonly (readonly FeedbackRecord[])[];
}

export interface TuneResult {
  /** One per ramp of the chain; 0 on inactive ramps. */
  readonly thresholds: Float64Array;
  readonly accuracy: number;
  readonly meanLatency: number;
  /** Accepted moves. */
  readonly moves: number;
  /** Rounds (accepted moves + step halvings). */
  readonly rounds: number;
}

/** Smallest value >= x in an ascending array, or null. */
function nextLoss(sorted: Float64Array, x: number): number | null {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if ((sorted[mid] as number) < x) lo = mid + 1;
    else hi = mid;
  }
  return lo < sorted.length ? (sorted[lo] as number) : null;
}

/** The accuracy the tuner aims for. */
export function tuningTarget(s: TunerSettings): number {
  return 1 - s.budget * (1 - s.safety);
}

export function tuneThresholds(req: TuneRequest, settings: TunerSettings = DEFAULT_TUNER): TuneResult {
  const n = req.latency.toRamp.length;
  const target = tuningTarget(settings) - 1e-12;
  const also = req.also ?? [];
  const feasible = (t: Float64Array, e: ThresholdOutcome): boolean =>
    e.accuracy >= target && also.every((set) => set.length === 0 || evaluateThresholds(set, t, req.latency).accuracy >= target);

  let tau: Float64Array = new Float64Array(n);
  let cur = evaluateThresholds(req.records, tau, req.latency);
  const active = [...new Set(req.active)].filter((j) => j >= 0 && j < n).sort((a, b) => a - b);
  const step = new Map(active.map((j) => [j, settings.startStep]));
  const sorted = new Map(active.map((j) => [j, Float64Array.from(req.records, (r) => r.loss[j] as number).sort()]));
  let moves = 0;
  let rounds = 0;
  if (req.records.length === 0) return { thresholds: tau, accuracy: cur.accuracy, meanLatency: cur.meanLatency, moves, rounds };

  while (rounds++ < settings.maxIterations) {
    let best: { j: number; t: Float64Array; e: ThresholdOutcome; ratio: number; gain: number } | null = null;
    for (const j of active) {
      const s = step.get(j) as number;
      if (s < settings.minStep) continue;
      let next = Math.min(settings.maxThreshold, (tau[j] as number) + s);
      if (next <= (tau[j] as number)) continue;
      const t = tau.slice();
      t[j] = next;
      let e = evaluateThresholds(req.records, t, req.latency);
      if (cur.meanLatency - e.meanLatency <= 1e-12) {
        // the step captured no input: stretch it to just past the next loss observed at this ramp
        const v = nextLoss(sorted.get(j) as Float64Array, next);
        if (v === null || v >= settings.maxThreshold) continue;
        next = v + Math.max(1e-12, v * 1e-9);
        t[j] = next;
        e = evaluateThresholds(req.records, t, req.latency);
      }
      const gain = cur.meanLatency - e.meanLatency;
      if (gain <= 1e-12 || !feasible(t, e)) continue;
      const ratio = (cur.accuracy - e.accuracy) / gain;
      if (!best || ratio < best.ratio - 1e-12 || (Math.abs(ratio - best.ratio) <= 1e-12 && gain > best.gain)) best = { j, t, e, ratio, gain };
    }
    if (best) {
      tau = best.t;
      cur = best.e;
      step.set(best.j, (step.get(best.j) as number) * 2);
      moves++;
      continue;
    }
    let any = false;
    for (const j of active) {
      const s = (step.get(j) as number) / 2;
      step.set(j, s);
      if (s >= settings.minStep) any = true;
    }
    if (!any) break;
  }
  return { thresholds: tau, accuracy: cur.accuracy, meanLatency: cur.meanLatency, moves, rounds };
}
