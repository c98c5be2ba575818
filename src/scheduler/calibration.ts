/**
 * Online latency calibration. A profile is measured on an otherwise idle machine; while serving,
 * the event loop (gRPC, queue) and the other executor threads compete for the same cores, and a
 * batch can take several times its profiled latency (measured here: ~3x on 2 cores under load).
 * Planning with stale numbers makes SlackFit pick subnets that cannot fit. So the policy keeps,
 * as part of its explicit state, an exponentially weighted ratio of observed to profiled (p50)
 * batch latency and plans with `profiled x scale`. In the simulator the ratio stays near 1.
 */
import type { LatencyTable } from './latency-table.js';
import type { BatchOutcome } from './types.js';

export interface Calibration {
  /** Observed / profiled latency (EWMA). */
  readonly scale: number;
  readonly samples: number;
}

export const UNCALIBRATED: Calibration = Object.freeze({ scale: 1, samples: 0 });

export interface CalibrationOptions {
  /** EWMA weight of the newest batch. */
  readonly alpha: number;
  readonly min: number;
  readonly max: number;
}

export const CALIBRATION_DEFAULTS: CalibrationOptions = Object.freeze({ alpha: 0.05, min: 0.5, max: 20 });

export function calibrate(c: Calibration, table: LatencyTable, outcome: BatchOutcome, o: CalibrationOptions = CALIBRATION_DEFAULTS): Calibration {
  const s = table.subnets.find((x) => x.id === outcome.subnet);
  if (!s || outcome.batch < 1 || !(outcome.latencyMs > 0)) return c;
  const expected = table.stats(s.index, Math.min(outcome.batch, table.maxBatch)).p50;
  const ratio = Math.min(o.max, Math.max(o.min, outcome.latencyMs / expected));
  // the first batches replace the prior quickly; later ones move it slowly
  const alpha = Math.max(o.alpha, 1 / (c.samples + 1));
  return { scale: (1 - alpha) * c.scale + alpha * ratio, samples: c.samples + 1 };
}
