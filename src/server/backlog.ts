/**
 * What the frontend's admission sees: the work ahead of a new request in images (requests carry
 * 1..maxBatch images), counting what workers already pulled into their local queues or are
 * running, and the rate that work is actually drained at.
 *
 * - Work ahead: this frontend's own calls in flight (exact, updated per call, so a burst is seen
 *   at once rather than at the next poll) plus the other frontends' share of the shared queue's
 *   outstanding requests (enqueued and not yet acknowledged: waiting, pulled into a worker's
 *   local queue, or running), polled, counted at this frontend's mean request size.
 * - Efficiency: what admission scales the profile by. The raw drain rate depends on which subnets
 *   the policy chose (SlackFit serves slow accurate subnets while it has slack, and would switch to
 *   fast ones under a backlog), so in each saturated window the answers' profiled executor time
 *   (each answer's images x its subnet's profiled ms per image at the largest batch) is divided by
 *   the executor time the window had: 1 = the serving path keeps the executors as busy as the
 *   profile says, 0.5 = it drains half as fast as the profile of the subnets it ran. That ratio
 *   carries over to the fastest eligible subnet, which a rate does not.
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
import { RecentPeak } from '../metrics/recent-peak.js';
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
  /** Profiled executor ms of the images answered in this window. */
  private windowProfiledMs = 0;
  /** Completed saturated windows' efficiency: profiled executor ms / available executor ms. */
  private readonly efficiencies: RecentPeak;
  /** Least outstanding requests (own, or the shared queue's if more) seen in this window. */
  private windowMinLoad = 0;
  private readonly saturatedAt: number;
  /** Completed saturated windows' drain rate, images per ms. */
  private readonly rates: RecentPeak;
  private readonly windowMs: number;
  /** The queue backend is unreachable: windows are not recorded. */
  private interruptedNow = false;

  constructor(o: BacklogOptions = {}) {
    this.windowMs = o.windowMs ?? 100;
    this.rates = new RecentPeak(o.memoryMs ?? 5_000);
    this.efficiencies = new RecentPeak(o.memoryMs ?? 5_000);
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

  /**
   * A call admitted earlier ended; `served` when a worker answered it (it counts towards the rate).
   * `profiledMs`: the executor time the profile gives its images on the subnet that served them
   * (0 when unknown: it then counts towards the rate only).
   */
  finished(images: number, served: boolean, now: number, profiledMs = 0): void {
    this.ownImages = Math.max(0, this.ownImages - images);
    this.ownRequests = Math.max(0, this.ownRequests - 1);
    this.roll(now);
    if (served) {
      this.windowImages += images;
      this.windowAnswers++;
      this.windowProfiledMs += profiledMs;
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
    this.windowProfiledMs = 0;
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
    return this.rates.peak(now);
  }

  /** Peak efficiency of the recent saturated windows (see the header); undefined without one. */
  efficiency(now: number): number | undefined {
    this.roll(now);
    return this.efficiencies.peak(now);
  }

  private roll(now: number): void {
    if (this.windowStart === undefined) {
      this.windowStart = now;
      this.windowMinLoad = this.load;
      return;
    }
    if (now - this.windowStart < this.windowMs) return;
    // a saturated window with answers records its rate; others record nothing (the peak holds)
    if (!this.interruptedNow && this.windowAnswers >= this.saturatedAt && this.windowMinLoad >= this.saturatedAt) {
      this.rates.push(now, this.windowImages / (now - this.windowStart));
      if (this.windowProfiledMs > 0) this.efficiencies.push(now, this.windowProfiledMs / ((now - this.windowStart) * this.saturatedAt));
    }
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
 * first included), divided by the measured efficiency when the serving path kept the executors
 * less busy than the profile says in recent saturated windows, so admit()'s arithmetic (the
 * eligible subnet's profiled rate at the largest batch on every executor) yields the measured
 * wait. While the frontend holds fewer calls than there are executors the profile alone decides.
 * Without efficiency samples (answers of unknown subnets) the raw drain rate stands in, against
 * the fastest eligible subnet's profile.
 */
export function admissionLoad(backlog: Backlog, table: LatencyTable, executors: number, now: number, images: number, minAccuracy: number): AdmissionLoad {
  const imagesAhead = backlog.imagesAhead() + images - 1;
  const drainPerMs = backlog.drainPerMs(now);
  const eligible = table.fastest(1, minAccuracy);
  const B = table.maxBatch;
  const profilePerMs = eligible ? (B / table.ms(eligible.index, B)) * executors : Infinity;
  // Only a real backlog, more than one full batch per executor, lets measurements override the
  // profile (measured: without this rule admission shed ~125 requests at the start of the demo
  // trace's burst, with 8 images queued ahead).
  const backlogged = imagesAhead >= B * executors && backlog.inFlight >= executors;
  const efficiency = backlog.efficiency(now) ?? (drainPerMs === undefined ? undefined : drainPerMs / profilePerMs);
  const slow = backlogged && efficiency !== undefined && efficiency < 1;
  return { queuedAhead: slow ? imagesAhead / efficiency : imagesAhead, imagesAhead, drainPerMs };
}
