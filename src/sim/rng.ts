/** Seeded randomness for the simulator's latency noise (mulberry32 + Box-Muller). */
export class SimRng {
  private s: number;
  private spare: number | null = null;
  constructor(seed: number) {
    this.s = seed >>> 0 || 0x9e3779b9;
  }
  uniform(): number {
    let t = (this.s = (this.s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  normal(): number {
    if (this.spare !== null) {
      const v = this.spare;
      this.spare = null;
      return v;
    }
    const u = 1 - this.uniform();
    const r = Math.sqrt(-2 * Math.log(u));
    const th = 2 * Math.PI * this.uniform();
    this.spare = r * Math.sin(th);
    return r * Math.cos(th);
  }
  /** Log-normal draw with the given median and 95th percentile (p95 >= p50). */
  lognormal(p50: number, p95: number): number {
    const sigma = p95 > p50 ? Math.log(p95 / p50) / 1.6448536 : 0;
    return p50 * Math.exp(sigma * this.normal());
  }
}
