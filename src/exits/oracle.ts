/**
 * The oracle, for evaluation only: each input exits at the first ramp whose answer agrees with
 * the final output (it needs the final output, so it can never run live). Its latency is the
 * floor any policy with these ramps can reach at zero accuracy loss.
 */
import { agrees, type FeedbackRecord } from './feedback.js';
import { latencyAt, type ExitLatency } from './latency.js';

/** First ramp agreeing with the final output, or -1 (none does: the input needs the final). */
export function oracleExit(r: FeedbackRecord, ramps: ArrayLike<number> | null = null): number {
  const n = r.pred.length;
  for (let j = 0; j < n; j++) {
    if (ramps && !Array.prototype.includes.call(ramps, j)) continue;
    if (agrees(r, j)) return j;
  }
  return -1;
}

/** Latency of every record under the oracle (restricted to `ramps` when given). */
export function oracleLatencies(records: readonly FeedbackRecord[], lat: ExitLatency, ramps: ArrayLike<number> | null = null): Float64Array {
  return Float64Array.from(records, (r) => latencyAt(lat, oracleExit(r, ramps)));
}
