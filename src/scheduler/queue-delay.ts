/**
 * A queue delay around any policy, as Triton's dynamic batcher has one (`max_queue_delay_microseconds`
 * with a preferred batch size): when the batch the policy would run holds every queued request and
 * fewer images than preferred, wait for more, up to `delayMs` after the oldest of them arrived.
 *
 * Why: at moderate load most batches hold one request, and a batch's fixed costs (the hand-off to
 * an executor thread, onnxruntime's per-run overhead, per-batch metrics, the event-loop wake-ups)
 * are then paid once per request. Waiting a millisecond or two lets them be shared.
 *
 * It never holds a batch the policy cut short itself (requests left behind mean the policy chose
 * that size, e.g. SlackFit for slack), and never holds once waiting would leave the earliest
 * deadline less than `expectedMs + delayMs` of room (the batch, and a larger one, must still fit).
 * Pure: the wait is returned as `retryAt`; the caller (worker loop, simulator) owns the timer.
 */
import type { Decision, Policy, QueuedRequest } from './types.js';

export interface QueueDelayOptions {
  /** Longest wait after the oldest request of the batch arrived, ms (0 = off). */
  readonly delayMs: number;
  /** Images at which the batch runs at once (Triton's preferred batch size). */
  readonly preferredImages: number;
}

/** The decision to take instead of `d` (the same one, or a hold with `retryAt`). */
export function delayDecision(d: Decision, queueLength: number, now: number, o: QueueDelayOptions): Decision {
  const run = d.dispatch;
  if (run === null || o.delayMs <= 0 || run.requests.length < queueLength) return d;
  let images = 0;
  let oldest = Infinity;
  let deadline = Infinity;
  for (const r of run.requests as readonly QueuedRequest[]) {
    images += r.size ?? 1;
    oldest = Math.min(oldest, r.arrival);
    deadline = Math.min(deadline, r.deadline);
  }
  if (images >= o.preferredImages) return d;
  const retryAt = oldest + o.delayMs;
  if (retryAt <= now || deadline - retryAt < run.expectedMs + o.delayMs) return d;
  return { dispatch: null, drops: d.drops, retryAt };
}

export function withQueueDelay<S>(inner: Policy<S>, o: QueueDelayOptions): Policy<S> {
  if (o.delayMs <= 0) return inner;
  return {
    name: inner.name,
    loadsVariants: inner.loadsVariants,
    init: () => inner.init(),
    decide: (ctx, state) => {
      const r = inner.decide(ctx, state);
      // the inner policy's drops are taken out of the queue by the caller before it asks again
      const queued = ctx.queue.length - r.decision.drops.length;
      return { decision: delayDecision(r.decision, queued, ctx.now, o), state: r.state };
    },
    observe: (s, outcome) => inner.observe(s, outcome),
  };
}
