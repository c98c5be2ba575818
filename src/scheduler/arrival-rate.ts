/**
 * Images arriving per millisecond over a short sliding window, on an injected clock. The worker
 * loop and the simulator each feed one with what enters their queue and pass `rate(now)` to the
 * policy (`DecisionContext.arrivalRate`), so the policy stays a pure function of its inputs.
 *
 * Counted in fixed slots (window / slots wide) so memory and cost per call are constant however
 * many requests arrive.
 */
export class ArrivalRate {
  private readonly counts: Float64Array;
  private readonly slotMs: number;
  /** Index (time / slotMs, floored) of the newest slot written. */
  private newest = -Infinity;

  constructor(
    readonly windowMs = 250,
    slots = 25,
  ) {
    this.counts = new Float64Array(slots);
    this.slotMs = windowMs / slots;
  }

  private advance(now: number): void {
    const k = Math.floor(now / this.slotMs);
    if (k <= this.newest) return;
    const n = this.counts.length;
    if (k - this.newest >= n) this.counts.fill(0);
    else for (let i = this.newest + 1; i <= k; i++) this.counts[((i % n) + n) % n] = 0;
    this.newest = k;
  }

  add(now: number, images: number): void {
    this.advance(now);
    const n = this.counts.length;
    const k = Math.floor(now / this.slotMs);
    // a late stamp (older than the newest slot) still counts, in its own slot when it is in the window
    const at = Math.max(k, this.newest - n + 1);
    const i = ((at % n) + n) % n;
    this.counts[i] = (this.counts[i] as number) + images;
  }

  /** Images per ms over the last window. */
  rate(now: number): number {
    this.advance(now);
    let sum = 0;
    for (const c of this.counts) sum += c;
    return sum / this.windowMs;
  }
}
