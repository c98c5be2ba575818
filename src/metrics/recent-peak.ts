/**
 * The peak of timestamped samples over the last `memoryMs`: what the frontend's backlog (drain
 * rate, efficiency) and the edge's in-flight limit (answer rate) keep of their closed windows.
 * At most the last `maxSamples` pushed count (older ones are dropped). Pure: the caller passes
 * the clock; samples are pushed in time order.
 *
 * Admission asks for the peak on every call, so it is kept as a monotonic queue (a sliding-window
 * maximum): a sample is dropped as soon as a later one at least as large arrives, since it can
 * never be the peak again; the front is always the peak. Each sample is pushed and dropped once,
 * so a query is O(1) amortised instead of a scan of the window.
 */
export class RecentPeak {
  /** [sequence number, time ms, value]: times increasing, values strictly decreasing. */
  private readonly queue: [number, number, number][] = [];
  private head = 0;
  private pushed = 0;

  constructor(
    private readonly memoryMs: number,
    private readonly maxSamples = 1_000,
  ) {}

  push(now: number, value: number): void {
    while (this.queue.length > this.head && (this.queue[this.queue.length - 1]?.[2] ?? Infinity) <= value) this.queue.pop();
    this.queue.push([this.pushed++, now, value]);
    this.dropOld(now);
  }

  /** The largest sample of the last memoryMs; undefined without one. */
  peak(now: number): number | undefined {
    this.dropOld(now);
    return this.queue[this.head]?.[2];
  }

  private dropOld(now: number): void {
    for (;;) {
      const front = this.queue[this.head];
      if (front === undefined || (front[1] >= now - this.memoryMs && front[0] >= this.pushed - this.maxSamples)) break;
      this.head++;
    }
    // compact once the dropped prefix dominates, so the array does not grow without bound
    if (this.head > 64 && this.head * 2 > this.queue.length) {
      this.queue.splice(0, this.head);
      this.head = 0;
    }
  }
}
