/**
 * Latency to each exit point of a subnet, from the profile's per-stage p50 (each stage graph
 * includes its ramp, then the head). An input released at ramp j has waited for stages 0..j;
 * one that is not released waits for every stage and the head.
 */

/** Cumulative latency, ms: to ramp j (`toRamp[j]`) and to the final output (`full`). */
export interface ExitLatency {
  readonly toRamp: Float64Array;
  readonly full: number;
}

/** `stageMs` = per-stage latency in chain order followed by the head's. */
export function exitLatencyOf(stageMs: readonly number[]): ExitLatency {
  const n = stageMs.length - 1;
  if (n < 1) throw new RangeError('need at least one stage and the head');
  const toRamp = new Float64Array(n);
  let t = 0;
  for (let j = 0; j < n; j++) toRamp[j] = t += stageMs[j] as number;
  return { toRamp, full: t + (stageMs[n] as number) };
}

/** Latency of an exit at ramp j, or of the final output for j = -1. */
export function latencyAt(lat: ExitLatency, j: number): number {
  return j < 0 ? lat.full : (lat.toRamp[j] as number);
}

/**
 * Per-stage latencies at the profiled batch sizes, interpolated linearly in between (the
 * profile has 1, 2, 4, ... 64). Below the smallest size the smallest is used; above the largest
 * it scales proportionally from the largest (pessimistic: batching gains are gone by then).
 */
export class StageLatencies {
  private readonly sizes: readonly number[];

  constructor(private readonly byBatch: ReadonlyMap<number, readonly number[]>) {
    this.sizes = [...byBatch.keys()].sort((a, b) => a - b);
    if (this.sizes.length === 0) throw new RangeError('no batch sizes');
  }

  stageMs(batch: number): number[] {
    const s = this.sizes;
    const first = s[0] as number;
    const last = s[s.length - 1] as number;
    const row = (b: number): readonly number[] => this.byBatch.get(b) as readonly number[];
    if (batch <= first) return [...row(first)];
    if (batch >= last) return row(last).map((v) => (v * batch) / last);
    let hi = 1;
    while ((s[hi] as number) < batch) hi++;
    const b0 = s[hi - 1] as number;
    const b1 = s[hi] as number;
    const f = (batch - b0) / (b1 - b0);
    const r0 = row(b0);
    const r1 = row(b1);
    return r0.map((v, i) => v + f * ((r1[i] as number) - v));
  }

  at(batch: number): ExitLatency {
    return exitLatencyOf(this.stageMs(batch));
  }
}
