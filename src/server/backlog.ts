/**
 * What the frontend's admission sees: the work ahead of a new request in images (requests carry
 * 1..maxBatch images), counting what workers already pulled into their local queues or are
 * running, and the rate that work is actually drained at.
 *
 * - Work ahead: this frontend's own calls in flight (exact, updated per call, so a burst is seen
 *   at once rather than at the next poll) plus the other frontends' share of the shared queue's
 *   outstanding requests (enqueued and not yet acknowledged: waiting, pulled into a worker's
 *   local queue, or running), polled, counted at this frontend's mean request size.
 * - Drain rate: the profile's compute rate is an upper bound the serving path (edge, queue hops)
 *   does not reach on a busy machine. The frontend measures images answered per window, but only
 *   in saturated windows: throughout the window at least `saturatedAt` requests (the executors)
 *   were outstanding, so the answers came as fast as the servers could give them and the rate is
 *   the capacity (and at least `saturatedAt` answers came: fewer say little, and a trickle while
 *   workers reconnect after an outage is not their speed). Below saturation the rate only follows the load (a few small requests say
 *   nothing about what a burst of large ones will get) and is not recorded. The peak of the
 *   saturated windows of the last `memoryMs` is the drain rate; without one, undefined (the
 *   caller then trusts the profile).
 *
 * - While the queue backend is unreachable (interrupted() until resumed()) no window is recorded:
 *   answers stop because workers cannot reach the queue, not because they are slow, and such a
 *   window's rate (measured in a Sentinel failover: ~10-20 images/s against thousands) would make
 *   admission shed the backlog the outage built, which drains in milliseconds once it is back.
 *
 * Pure bookkeeping: the caller passes the clock.
 */
import type { LatencyTable } from '../scheduler/latency-table.js';

export interface BacklogOptions {
  /** Width of a completion-rate window, ms. */
  readonly windowMs?: number;
  /** How long a window's rate counts towards the peak, ms. */
  readonly memoryMs?: number;
  /** A window is saturated when at least this many requests were outstanding all through it. */
  readonly saturatedAt?: number;
}

export class Backlog {
  private ownImages = 0;
  private ownRequests = 0;
  /** Outstanding requests in the shared queue (all frontends), as last polled. */
  private shared = 0;
  /** EWMA of images per admitted request. */
  private meanImages = 1;
  private windowStart: number | undefined;
  private windowImages = 0;
  /** Requests answered in this window. */
  private windowAnswers = 0;
  /** Least outstanding requests (own, or the shared queue's if more) seen in this window. */
  private windowMinLoad = 0;
  private readonly saturatedAt: number;
  /** Completed windows: [end ms, images per ms]. */
  private readonly rates: [number, number][] = [];
  private readonly windowMs: number;
  private readonly memoryMs: number;
  /** The queue backend is unreachable: windows are not recorded. */
  private interruptedNow = false;

  constructor(o: BacklogOptions = {}) {
    this.windowMs = o.windowMs ?? 100;
    this.memoryMs = o.memoryMs ?? 5_000;
    this.saturatedAt = Math.max(1, o.saturatedAt ?? 1);
  }

  private get load(): number {
    return Math.max(this.ownRequests, this.shared);
  }

  /** A call was admitted (it is in flight until finished()). */
  admitted(images: number): void {
    this.ownImages += images;
    this.ownRequests++;
    this.meanImages += (images - this.meanImages) * 0.05;
  }

  /** A call admitted earlier ended; `served` when a worker answered it (it counts towards the rate). */
  finished(images: number, served: boolean, now: number): void {
    this.ownImages = Math.max(0, this.ownImages - images);
    this.ownRequests = Math.max(0, this.ownRequests - 1);
    this.roll(now);
    if (served) {
      this.windowImages += images;
      this.windowAnswers++;
    }
    this.windowMinLoad = Math.min(this.windowMinLoad, this.load);
  }

  /** The shared queue's outstanding requests, as polled. */
  polled(outstanding: number): void {
    this.shared = outstanding;
    this.windowMinLoad = Math.min(this.windowMinLoad, this.load);
  }

  /** The queue backend became unreachable: the window in progress and those until resumed() are not recorded. */
  interrupted(now: number): void {
    this.interruptedNow = true;
    this.restart(now);
  }

  /** The queue backend is reachable again: windows are recorded from now on. */
  resumed(now: number): void {
    this.interruptedNow = false;
    this.restart(now);
  }

  private restart(now: number): void {
    this.windowStart = now;
    this.windowImages = 0;
    this.windowAnswers = 0;
    this.windowMinLoad = this.load;
  }

  /** Images ahead of a request arriving now. */
  imagesAhead(): number {
    return this.ownImages + Math.max(0, this.shared - this.ownRequests) * this.meanImages;
  }

  /** Calls this frontend holds. */
  get inFlight(): number {
    return this.ownRequests;
  }

  /** Peak drain rate of the recent saturated windows, images/ms; undefined without one. */
  drainPerMs(now: number): number | undefined {
    this.roll(now);
    while (this.rates.length > 0 && (this.rates[0]?.[0] ?? now) < now - this.memoryMs) this.rates.shift();
    let peak: number | undefined;
    for (const [, r] of this.rates) peak = Math.max(peak ?? 0, r);
    return peak;
  }

  private roll(now: number): void {
    if (this.windowStart === undefined) {
      this.windowStart = now;
      this.windowMinLoad = this.load;
      return;
    }
    if (now - this.windowStart < this.windowMs) return;
    // a saturated window with answers records its rate; others record nothing (the peak holds)
    if (!this.interruptedNow && this.windowAnswers >= this.saturatedAt && this.windowMinLoad >= this.saturatedAt) this.rates.push([now, this.windowImages / (now - this.windowStart)]);
    if (this.rates.length > 1_000) this.rates.shift();
    this.restart(now);
  }
}

export interface AdmissionLoad {
  readonly queuedAhead: number;
  readonly imagesAhead: number;
  readonly drainPerMs: number | undefined;
}

/**
 * What admission sees for a request of `images` arriving now: the images ahead of it (its own
 * first included), scaled by profile rate / measured rate when the serving path drained slower
 * than the profile says in recent saturated windows, so admit()'s arithmetic (the eligible
 * subnet's profiled rate at the largest batch on every executor) yields the measured wait.
 * While the frontend holds fewer calls than there are executors the profile alone decides.
 */
export function admissionLoad(backlog: Backlog, table: LatencyTable, executors: number, now: number, images: number, minAccuracy: number): AdmissionLoad {
  const imagesAhead = backlog.imagesAhead() + images - 1;
  const drainPerMs = backlog.drainPerMs(now);
  const eligible = table.fastest(1, minAccuracy);
  const B = table.maxBatch;
  const profilePerMs = eligible ? (B / table.ms(eligible.index, B)) * executors : Infinity;
  // The measured rate is what the policy chose to serve at, not what it could: SlackFit serves at
  // the arrival rate with slow accurate subnets until a burst makes it switch. So it only
  // overrides the profile for a real backlog, more than one full batch per executor (measured:
  // without this rule it shed ~125 requests at the start of the demo trace's burst, with 8
  // images queued ahead).
  const backlogged = imagesAhead >= B * executors;
  const slow = drainPerMs !== undefined && drainPerMs < profilePerMs && backlog.inFlight >= executors && backlogged;
  return { queuedAhead: slow ? imagesAhead * (profilePerMs / drainPerMs) : imagesAhead, imagesAhead, drainPerMs };
}
