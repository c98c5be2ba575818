/** Wall-clock timing of async work, summarised as quantiles (milliseconds). */

export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return NaN;
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  const a = sorted[lo] as number;
  const b = sorted[hi] as number;
  return a + (b - a) * (pos - lo);
}

export interface Timing {
  readonly p50: number;
  readonly p95: number;
  readonly samples: number;
}

/** Runs `fn` `warmup` times untimed, then `repeats` times timed. */
export async function timeIt(fn: () => Promise<unknown>, repeats: number, warmup = 3): Promise<Timing> {
  for (let i = 0; i < warmup; i++) await fn();
  const ms: number[] = [];
  for (let i = 0; i < repeats; i++) {
    const t0 = process.hrtime.bigint();
    await fn();
    ms.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  ms.sort((a, b) => a - b);
  return { p50: quantile(ms, 0.5), p95: quantile(ms, 0.95), samples: ms.length };
}

/** A deterministic batch of `n` samples in the normalised input range, for timing (content does not change the cost). */
export function syntheticBatch(n: number, sampleSize: number): Float32Array {
  const x = new Float32Array(n * sampleSize);
  for (let i = 0; i < x.length; i++) x[i] = ((i * 2654435761) % 1000) / 400 - 0.8;
  return x;
}
