/**
 * The frontend's standing ties to the queue backend, kept up in the background while it serves:
 * the reply subscription (retried until it holds when the backend was unreachable at start), the
 * shared queue's depth polled for admission, and the backend's reachability and lost-request
 * notices. Owns the subscription, the last polled depth, the poll timer and the listeners; the
 * calls in flight stay the Frontend's, which gets every reply and lost id through its callbacks.
 */
import type { Metrics } from '../metrics/metrics.js';
import type { InferenceReply, RequestQueue } from '../queue/types.js';
import type { Backlog } from './backlog.js';

export interface QueueLinkOptions {
  /** The frontend's id: replies addressed to it come here. */
  readonly id: string;
  readonly queue: RequestQueue;
  readonly clock: () => number;
  /** Admission's reading of the backlog: fed the polled depth and the backend's outages. */
  readonly backlog: Backlog;
  readonly onReply: (r: InferenceReply) => void;
  /** Requests the backend lost (queue.onLost). */
  readonly onLost: (ids: readonly string[], cause: string) => void;
  readonly metrics?: Metrics;
  readonly log?: (line: string) => void;
}

export class QueueLink {
  private depthNow = 0;
  private depthTimer: NodeJS.Timeout | null = null;
  private unsubscribe: (() => Promise<void>) | null = null;
  private offLost: (() => void) | undefined;
  private offReachability: (() => void)[] = [];
  private stopped = false;

  constructor(private readonly o: QueueLinkOptions) {}

  /**
   * Starts listening for replies. With the backend unreachable it does not fail: it keeps
   * retrying in the background (100 ms doubling to 5 s, sooner once the backend is back) and the
   * frontend stays not-ready (and refuses calls) until it listens.
   */
  async start(): Promise<void> {
    this.offLost = this.o.queue.onLost?.((ids, cause) => this.o.onLost(ids, cause));
    // an outage stops answers without the workers being slow: admission must not learn a rate from it
    const down = this.o.queue.onBackendDown?.(() => this.o.backlog.interrupted(this.o.clock()));
    const up = this.o.queue.onBackendUp?.(() => this.o.backlog.resumed(this.o.clock()));
    this.offReachability = [down, up].filter((f): f is () => void => f !== undefined);
    const first = await this.subscribe().then(
      () => true,
      () => false,
    );
    if (!first) void this.subscribeUntilDone();
    // admission needs the queue's state; one read every 20 ms instead of one per request
    const poll = async (): Promise<void> => {
      const [depth, outstanding] = await Promise.all([this.o.queue.depth().catch(() => this.depthNow), this.o.queue.outstanding?.().catch(() => undefined)]);
      this.depthNow = depth;
      this.o.backlog.polled(outstanding ?? depth);
      this.o.metrics?.queueDepth.set({ where: 'shared' }, this.depthNow);
    };
    await poll();
    this.depthTimer = setInterval(() => void poll(), 20);
    this.depthTimer.unref();
  }

  private async subscribe(): Promise<void> {
    this.unsubscribe = await this.o.queue.subscribeReplies(this.o.id, (r) => this.o.onReply(r));
  }

  private async subscribeUntilDone(): Promise<void> {
    let wake: (() => void) | undefined;
    const off = this.o.queue.onBackendUp?.(() => wake?.());
    let delay = 100;
    try {
      while (!this.stopped && !this.unsubscribe) {
        await new Promise<void>((res) => {
          const t = setTimeout(res, delay);
          t.unref();
          wake = () => {
            clearTimeout(t);
            res();
          };
        });
        wake = undefined;
        if (this.stopped) return;
        try {
          await this.subscribe();
          this.o.log?.('frontend: listening for replies');
        } catch {
          delay = Math.min(5_000, delay * 2); // the queue logs the backend's state changes
        }
      }
    } finally {
      off?.();
    }
  }

  /** Listening for replies: calls can be answered. */
  get listening(): boolean {
    return this.unsubscribe !== null;
  }

  /** The shared queue depth as last polled. */
  get depth(): number {
    return this.depthNow;
  }

  /** Stopping, step 1: no more retries, polls, or reachability and lost notices (replies still come). */
  detach(): void {
    this.stopped = true;
    this.offLost?.();
    for (const off of this.offReachability) off();
    if (this.depthTimer) clearInterval(this.depthTimer);
  }

  /** Stopping, step 2 (once the calls are finished): no more replies. */
  async close(): Promise<void> {
    await this.unsubscribe?.();
  }
}
