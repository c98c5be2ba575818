/**
 * Latency and accuracy of every served subnet at every batch size 1..maxBatch, built once from a
 * measured profile. Profiles hold powers of two; sizes between them are interpolated linearly
 * (batch latency on CPU is close to affine between neighbouring sizes, see the profile plot), so
 * the scheduler can dispatch exactly the requests it has instead of rounding down.
 */
import { SlackserveError } from '../errors.js';
import type { Profile } from '../supernet/profile-file.js';

export type LatencyQuantile = 'p50' | 'p95';

export interface SubnetInfo {
  readonly id: string;
  /** Position in the table (fastest-at-batch-1 first is not guaranteed; see `byAccuracy`). */
  readonly index: number;
  /** Top-1 accuracy, 0..1. */
  readonly accuracy: number;
}

export class LatencyTable {
  /** Subnets, most accurate first. */
  readonly byAccuracy: readonly SubnetInfo[];
  private readonly p50: Float64Array;
  private readonly p95: Float64Array;
  private readonly loads: Float64Array;
  private readonly stride: number;
  /** Lazily built staged tables (exits in the simulator): per subnet index. */
  private readonly stagedCache = new Map<number, { p50: Float64Array; p95: Float64Array; cum: Float64Array; exits: number }>();

  private constructor(
    readonly subnets: readonly SubnetInfo[],
    readonly maxBatch: number,
    readonly quantile: LatencyQuantile,
    p50: Float64Array,
    p95: Float64Array,
    loads: Float64Array,
    private readonly entries: readonly Profile['subnets'][number][] = [],
    private readonly sizes: readonly number[] = [],
  ) {
    this.stride = maxBatch + 1;
    this.p50 = p50;
    this.p95 = p95;
    this.loads = loads;
    this.byAccuracy = [...subnets].sort((a, b) => b.accuracy - a.accuracy || this.ms(a.index, 1) - this.ms(b.index, 1));
  }

  /**
   * @param accuracy subnet id -> top-1 (e.g. from the manifest); falls back to the profile's top1.
   * @param ids restrict to these subnets (default: every subnet in the profile).
   */
  static fromProfile(
    profile: Profile,
    opts: {
      accuracy?: Readonly<Record<string, number>>;
      quantile?: LatencyQuantile;
      maxBatch?: number;
      ids?: readonly string[];
      /** Multiplies the measured variant load times (what-if studies of the INFaaS baseline). */
      loadScale?: number;
    } = {},
  ): LatencyTable {
    const sizes = profile.batch_sizes;
    const maxBatch = opts.maxBatch ?? (sizes[sizes.length - 1] as number);
    const chosen = opts.ids ? opts.ids.map((id) => profileEntry(profile, id)) : profile.subnets;
    const stride = maxBatch + 1;
    const p50 = new Float64Array(chosen.length * stride);
    const p95 = new Float64Array(chosen.length * stride);
    const loads = new Float64Array(chosen.length);
    const subnets = chosen.map((s, i): SubnetInfo => {
      const acc = opts.accuracy?.[s.id] ?? s.top1;
      if (acc === null || acc === undefined || !(acc >= 0 && acc <= 1))
        throw new SlackserveError('PROFILE_INVALID', `no accuracy for subnet ${s.id} (neither the manifest nor the profile has top1)`);
      for (let b = 1; b <= maxBatch; b++) {
        p50[i * stride + b] = interpolate(sizes, (k) => s.whole[k]?.p50 ?? NaN, b);
        p95[i * stride + b] = interpolate(sizes, (k) => s.whole[k]?.p95 ?? NaN, b);
      }
      // Measured noise can make a smaller batch look slower than a larger one; a batch of b can
      // always run no slower than one of b+1, so enforce monotonicity from the top down.
      for (let b = maxBatch - 1; b >= 1; b--) {
        const j = i * stride + b;
        p50[j] = Math.min(p50[j] as number, p50[j + 1] as number);
        p95[j] = Math.min(p95[j] as number, p95[j + 1] as number);
      }
      loads[i] = (profile.variant_load_ms?.[s.id]?.p50 ?? NaN) * (opts.loadScale ?? 1);
      return { id: s.id, index: i, accuracy: acc };
    });
    return new LatencyTable(subnets, maxBatch, opts.quantile ?? 'p95', p50, p95, loads, chosen, sizes);
  }

  /** Planning latency (the configured quantile) of subnet `index` at batch `b`, ms. */
  ms(index: number, b: number): number {
    return (this.quantile === 'p50' ? this.p50 : this.p95)[index * this.stride + b] as number;
  }

  /** Measured median and 95th percentile (the simulator draws noise from them). */
  stats(index: number, b: number): { p50: number; p95: number } {
    return { p50: this.p50[index * this.stride + b] as number, p95: this.p95[index * this.stride + b] as number };
  }

  /**
   * Measured median and 95th percentile of a *staged* batch (the stage chain with its exit ramps,
   * then the head) of subnet `index` at batch `b`, interpolated like `stats`; NaN when the profile
   * has no staged measurement.
   */
  stagedStats(index: number, b: number): { p50: number; p95: number } {
    const t = this.staged(index);
    return { p50: t.p50[b] as number, p95: t.p95[b] as number };
  }

  /** Number of exit ramps of subnet `index` in the profile's stage chain (stages without the head). */
  exitCount(index: number): number {
    return this.staged(index).exits;
  }

  /**
   * Cumulative per-stage p50 of subnet `index` at batch `b`: entry j (< exitCount) = time to ramp j
   * (stages 0..j), the last entry (= exitCount) = time to the final output (every stage and the
   * head). A view into a cached array: do not modify.
   */
  stageCumMs(index: number, b: number): Float64Array {
    const t = this.staged(index);
    const w = t.exits + 1;
    return t.cum.subarray(b * w, b * w + w);
  }

  private staged(index: number): { p50: Float64Array; p95: Float64Array; cum: Float64Array; exits: number } {
    let t = this.stagedCache.get(index);
    if (t) return t;
    const s = this.entries[index];
    const stride = this.stride;
    const p50 = new Float64Array(stride).fill(NaN);
    const p95 = new Float64Array(stride).fill(NaN);
    const first = s?.stages[String(this.sizes[0])] ?? [];
    const exits = Math.max(0, first.length - 1);
    const w = exits + 1;
    const cum = new Float64Array(stride * w).fill(NaN);
    if (s && this.sizes.length > 0) {
      for (let b = 1; b <= this.maxBatch; b++) {
        p50[b] = interpolate(this.sizes, (k) => s.staged?.[k]?.p50 ?? NaN, b);
        p95[b] = interpolate(this.sizes, (k) => s.staged?.[k]?.p95 ?? NaN, b);
        let c = 0;
        for (let j = 0; j < w; j++) {
          c += interpolate(this.sizes, (k) => s.stages?.[k]?.[j]?.p50 ?? NaN, b);
          cum[b * w + j] = c;
        }
      }
      for (let b = this.maxBatch - 1; b >= 1; b--) {
        p50[b] = Math.min(p50[b] as number, p50[b + 1] as number);
        p95[b] = Math.min(p95[b] as number, p95[b + 1] as number);
      }
    }
    t = { p50, p95, cum, exits };
    this.stagedCache.set(index, t);
    return t;
  }

  /** Time to load subnet `index` as a separate model (NaN when the profile has no measurement). */
  loadMs(index: number): number {
    return this.loads[index] as number;
  }

  subnet(id: string): SubnetInfo {
    const s = this.subnets.find((x) => x.id === id);
    if (!s) throw new SlackserveError('SUBNET_UNKNOWN', `subnet ${id} is not in the profile (have: ${this.subnets.map((x) => x.id).join(', ')})`);
    return s;
  }

  /** Fastest subnet at batch `b` among those with accuracy >= minAccuracy (null when none). */
  fastest(b: number, minAccuracy = 0): SubnetInfo | null {
    let best: SubnetInfo | null = null;
    for (const s of this.subnets)
      if (s.accuracy >= minAccuracy && (best === null || this.ms(s.index, b) < this.ms(best.index, b))) best = s;
    return best;
  }

  get mostAccurate(): SubnetInfo {
    return this.byAccuracy[0] as SubnetInfo;
  }
}

function profileEntry(profile: Profile, id: string): Profile['subnets'][number] {
  const s = profile.subnets.find((x) => x.id === id);
  if (!s) throw new SlackserveError('SUBNET_UNKNOWN', `subnet ${id} is not in the profile`);
  return s;
}

/** Linear interpolation over measured sizes; beyond the largest, scales per-item cost linearly. */
function interpolate(sizes: readonly number[], at: (b: number) => number, b: number): number {
  const first = sizes[0] as number;
  if (b <= first) return at(first);
  for (let i = 1; i < sizes.length; i++) {
    const hi = sizes[i] as number;
    if (b <= hi) {
      const lo = sizes[i - 1] as number;
      return at(lo) + ((at(hi) - at(lo)) * (b - lo)) / (hi - lo);
    }
  }
  const last = sizes[sizes.length - 1] as number;
  return (at(last) * b) / last;
}
