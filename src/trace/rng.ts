/**
 * Seeded pseudo-random numbers for the trace generators. Every trace must be reproducible from
 * its seed alone (committed traces, tests, simulator runs), so nothing here touches Math.random.
 *
 * The core is xoshiro128** (Blackman & Vigna): 32-bit state words, so it runs on plain JS int32
 * arithmetic without BigInt, has a 2^128 - 1 period and passes BigCrush. Its state is seeded
 * with splitmix32 so that nearby seeds (1, 2, 3, ...) give unrelated streams.
 */

/** splitmix32 step: turns any 32-bit seed into well-mixed words for the xoshiro state. */
function splitmix32(state: { s: number }): number {
  state.s = (state.s + 0x9e3779b9) | 0;
  let z = state.s;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

// Coefficients of numpy's random_loggam (Stirling series); exact enough for PTRS acceptance.
const LOGGAM_A = [
  8.333333333333333e-2, -2.777777777777778e-3, 7.936507936507937e-4, -5.952380952380952e-4, 8.417508417508418e-4,
  -1.917526917526918e-3, 6.41025641025641e-3, -2.955065359477124e-2, 1.796443723688307e-1, -1.3924322169059,
];

/** log Γ(x) for x >= 1 (all Poisson needs: log k! = logGamma(k + 1)). */
export function logGamma(x: number): number {
  if (x === 1 || x === 2) return 0;
  const n = x < 7 ? Math.floor(7 - x) : 0;
  let x0 = x + n;
  const x2 = 1 / (x0 * x0);
  let gl0 = LOGGAM_A[9] as number;
  for (let k = 8; k >= 0; k--) gl0 = gl0 * x2 + (LOGGAM_A[k] as number);
  let gl = gl0 / x0 + 0.5 * Math.log(2 * Math.PI) + (x0 - 0.5) * Math.log(x0) - x0;
  for (let k = 1; k <= n; k++) {
    gl -= Math.log(x0 - 1);
    x0 -= 1;
  }
  return gl;
}

export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;
  /** Second normal deviate of the last polar-method pair (NaN when none is waiting). */
  private spareNormal = NaN;

  /**
   * @param seed any finite number; its integer part (folded to 32 bits) picks the stream
   * @param stream separates independent streams drawn from one seed (e.g. arrival times vs class
   *   labels, so adding classes to a trace leaves its arrival times unchanged)
   */
  constructor(seed: number, stream = 0) {
    if (!Number.isFinite(seed)) throw new RangeError(`seed must be a finite number, got ${seed}`);
    // Fold the seed's integer part into 32 bits, keeping the high part of large seeds too.
    const folded = Math.trunc(seed) ^ Math.trunc(seed / 2 ** 32);
    const st = { s: (folded + Math.imul(stream, 0x6a09e667)) | 0 };
    this.a = splitmix32(st);
    this.b = splitmix32(st);
    this.c = splitmix32(st);
    this.d = splitmix32(st);
    if ((this.a | this.b | this.c | this.d) === 0) this.d = 1; // the all-zero state is a fixed point
  }

  /** Next 32 random bits as an unsigned integer (xoshiro128**). */
  nextUint32(): number {
    const result = Math.imul(rotl(Math.imul(this.b, 5), 7), 9) >>> 0;
    const t = this.b << 9;
    this.c ^= this.a;
    this.d ^= this.b;
    this.b ^= this.c;
    this.a ^= this.d;
    this.c ^= t;
    this.d = rotl(this.d, 11);
    return result;
  }

  /** Uniform on [0, 1) with 53 random bits (two draws), so tiny probabilities are not lumped at 0. */
  uniform(): number {
    const hi = this.nextUint32() >>> 5; // 27 bits
    const lo = this.nextUint32() >>> 6; // 26 bits
    return (hi * 67108864 + lo) / 9007199254740992;
  }

  /** Exponential with the given rate (mean 1/rate); inversion, 1 - u is in (0, 1] so log is finite. */
  exponential(rate: number): number {
    return -Math.log(1 - this.uniform()) / rate;
  }

  /** Standard normal, Marsaglia's polar method (pairs; the second is kept for the next call). */
  normal(): number {
    if (!Number.isNaN(this.spareNormal)) {
      const z = this.spareNormal;
      this.spareNormal = NaN;
      return z;
    }
    for (;;) {
      const u = 2 * this.uniform() - 1;
      const v = 2 * this.uniform() - 1;
      const s = u * u + v * v;
      if (s > 0 && s < 1) {
        const f = Math.sqrt((-2 * Math.log(s)) / s);
        this.spareNormal = v * f;
        return u * f;
      }
    }
  }

  /**
   * Gamma(shape, scale): mean shape*scale, CV² 1/shape. Marsaglia & Tsang (2000) squeeze method
   * for shape >= 1; for shape < 1 (the bursty CV² > 1 case) it uses the boost
   * Gamma(a) = Gamma(a + 1) * U^(1/a), as the paper suggests.
   */
  gamma(shape: number, scale: number): number {
    if (!(shape > 0) || !(scale > 0)) throw new RangeError(`gamma needs shape > 0 and scale > 0, got ${shape}, ${scale}`);
    if (shape < 1) {
      // U in (0, 1]: U = 0 would give exactly 0, a zero inter-arrival gap of probability ~0 anyway.
      const boost = Math.pow(1 - this.uniform(), 1 / shape);
      return this.gamma(shape + 1, scale) * boost;
    }
    const d = shape - 1 / 3;
    const c = 1 / Math.sqrt(9 * d);
    for (;;) {
      let x: number;
      let v: number;
      do {
        x = this.normal();
        v = 1 + c * x;
      } while (v <= 0);
      v = v * v * v;
      const u = this.uniform();
      const x2 = x * x;
      if (u < 1 - 0.0331 * x2 * x2) return d * v * scale;
      if (Math.log(u) < 0.5 * x2 + d * (1 - v + Math.log(v))) return d * v * scale;
    }
  }

  /**
   * Poisson(mean), exact. Small means: multiplication of uniforms (Knuth), O(mean) draws. Means
   * >= 10: Hörmann's PTRS transformed rejection (1993), the algorithm numpy uses, O(1) draws.
   */
  poisson(mean: number): number {
    if (!(mean >= 0) || !Number.isFinite(mean)) throw new RangeError(`poisson needs a finite mean >= 0, got ${mean}`);
    if (mean === 0) return 0;
    if (mean < 10) {
      const limit = Math.exp(-mean);
      let k = 0;
      let p = this.uniform();
      while (p > limit) {
        k++;
        p *= this.uniform();
      }
      return k;
    }
    const slam = Math.sqrt(mean);
    const loglam = Math.log(mean);
    const b = 0.931 + 2.53 * slam;
    const a = -0.059 + 0.02483 * b;
    const invalpha = 1.1239 + 1.1328 / (b - 3.4);
    const vr = 0.9277 - 3.6224 / (b - 2);
    for (;;) {
      const u = this.uniform() - 0.5;
      const v = this.uniform();
      const us = 0.5 - Math.abs(u);
      const k = Math.floor(((2 * a) / us + b) * u + mean + 0.43);
      if (us >= 0.07 && v <= vr) return k;
      if (k < 0 || (us < 0.013 && v > us)) continue;
      if (Math.log(v) + Math.log(invalpha) - Math.log(a / (us * us) + b) <= -mean + k * loglam - logGamma(k + 1)) return k;
    }
  }

  /** Index drawn with probability proportional to cumulative weights `cum` (last entry = total). */
  pick(cum: ArrayLike<number>): number {
    const total = cum[cum.length - 1] as number;
    const x = this.uniform() * total;
    // linear scan: class lists are a handful of entries
    for (let i = 0; i < cum.length - 1; i++) if (x < (cum[i] as number)) return i;
    return cum.length - 1;
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}
