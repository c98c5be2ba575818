/**
 * The peak of timestamped samples over the last `memoryMs`: what the frontend's backlog (drain
 * rate, efficiency) and the edge's in-flight limit (answer rate) keep of their closed windows.
 * At most `maxSamples` are kept (oldest dropped first). Pure: the caller passes the clock.
 */
export class RecentPeak {
  /** [time ms, value], oldest first. */
  private readonly samples: [number, number][] = [];

  constructor(
    private readonly memoryMs: number,
    private readonly maxSamples = 1_000,
  ) {}

  push(now: number, value: number): void {
    this.samples.push([now, value]);
    if (this.samples.length > this.maxSamples) this.samples.shift();
  }

  /** The largest sample of the last memoryMs; undefined without one. */
  peak(now: number): number | undefined {
    while (this.samples.length > 0 && (this.samples[0]?.[0] ?? now) < now - this.memoryMs) this.samples.shift();
    let peak: number | undefined;
    for (const [, v] of this.samples) peak = Math.max(peak ?? v, v);
    return peak;
  }
}
