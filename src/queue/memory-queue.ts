/**
 * The in-process request queue: the embedded default when no Redis is configured, so a single
 * `slackserve serve` process needs nothing installed. It keeps the Redis queue's semantics (the
 * contract test runs the same suite against both), modelled as a broker (the shared state, like
 * the Redis server) and handles (one per "process connection", like a RedisQueue instance):
 * closing a handle is how a worker dies here, which makes what it held reclaimable.
 */
import { SlackserveError } from '../errors.js';
import { validateRequest } from './codec.js';
import {
  DEFAULT_MAX_PENDING,
  QUEUE_FULL_MESSAGE,
  type Delivery,
  type InferenceReply,
  type QueuedInference,
  type RequestQueue,
} from './types.js';

class MemoryDelivery implements Delivery {
  constructor(
    readonly request: QueuedInference,
    readonly worker: string,
  ) {}
}

/** A pulled request: who holds it, since when, and whether the client has cancelled it. */
interface Held {
  readonly request: QueuedInference;
  worker: string;
  handle: MemoryQueue;
  sinceMs: number;
  cancelled: boolean;
}

interface Waiter {
  readonly handle: MemoryQueue;
  readonly worker: string;
  readonly max: number;
  readonly resolve: (d: Delivery[]) => void;
  /** When its blocking pull gives up with nothing (epoch ms). */
  readonly deadline: number;
}

export interface MemoryQueueOptions {
  readonly maxPending?: number;
}

/** Shared state of every handle connected to it. */
export class MemoryBroker {
  readonly maxPending: number;
  /** Admitted, not yet pulled; a Map keeps FIFO (insertion) order and deletes by id in O(1). */
  readonly pending = new Map<string, QueuedInference>();
  readonly held = new Map<string, Held>();
  readonly waiters: Waiter[] = [];
  /**
   * One timer for every blocked pull, set for the earliest deadline: a worker pulls once per
   * request or so under load, and a timer made and cleared per pull was a good part of what the
   * request path allocated (a timer that fires finds who is due and is set again for the next).
   */
  private expiry: NodeJS.Timeout | undefined;
  private expiryAt = Infinity;
  readonly replyListeners = new Map<string, Set<(r: InferenceReply) => void>>();
  readonly handles = new Set<MemoryQueue>();
  private outbox: Array<() => void> = [];

  constructor(opts: MemoryQueueOptions = {}) {
    this.maxPending = opts.maxPending ?? DEFAULT_MAX_PENDING;
  }

  /** A new handle (what one process would hold). */
  connect(): MemoryQueue {
    const h = new MemoryQueue(this);
    this.handles.add(h);
    return h;
  }

  isAlive(worker: string): boolean {
    for (const h of this.handles) if (h.workers.has(worker)) return true;
    return false;
  }

  /** Moves up to `max` pending requests to `worker`, in FIFO order. */
  take(handle: MemoryQueue, worker: string, max: number): Delivery[] {
    const out: Delivery[] = [];
    const now = Date.now();
    for (const [id, r] of this.pending) {
      if (out.length >= max) break;
      this.pending.delete(id);
      this.held.set(id, { request: r, worker, handle, sinceMs: now, cancelled: false });
      out.push(new MemoryDelivery(r, worker));
    }
    return out;
  }

  /**
   * Delivers replies on the next event-loop turn, in one batch. Not microtasks: a frontend that
   * enqueues from its reply handler and a worker that replies at once would otherwise chain
   * microtasks forever and starve timers and I/O (a closed-loop client does exactly that).
   */
  post(f: () => void): void {
    this.outbox.push(f);
    if (this.outbox.length > 1) return;
    setImmediate(() => {
      const batch = this.outbox;
      this.outbox = [];
      for (const g of batch) g();
    });
  }

  /** Hands pending work to blocked pullers, oldest waiter first. */
  wake(): void {
    while (this.pending.size > 0 && this.waiters.length > 0) {
      const w = this.waiters.shift()!;
      w.resolve(this.take(w.handle, w.worker, w.max));
    }
  }

  /** A pull blocks until work comes (wake) or its deadline passes (with nothing). */
  block(w: Waiter): void {
    this.waiters.push(w);
    if (w.deadline < this.expiryAt) this.expireAt(w.deadline);
  }

  /** Resolves `w` with nothing, if it is still waiting. */
  unblock(w: Waiter): void {
    const i = this.waiters.indexOf(w);
    if (i < 0) return;
    this.waiters.splice(i, 1);
    w.resolve([]);
  }

  private expireAt(at: number): void {
    clearTimeout(this.expiry);
    this.expiryAt = at;
    this.expiry = at === Infinity ? undefined : setTimeout(() => this.expire(), Math.max(0, at - Date.now()));
  }

  /** The timer fired: pulls past their deadline get nothing; set again for the next one. */
  private expire(): void {
    const now = Date.now();
    let next = Infinity;
    for (let i = 0; i < this.waiters.length; ) {
      const w = this.waiters[i]!;
      if (w.deadline <= now) {
        this.waiters.splice(i, 1);
        w.resolve([]);
      } else {
        next = Math.min(next, w.deadline);
        i++;
      }
    }
    this.expiry = undefined;
    this.expiryAt = Infinity;
    if (next !== Infinity) this.expireAt(next);
  }
}

export class MemoryQueue implements RequestQueue {
  /** Worker names pulling through this handle: alive until it closes. */
  readonly workers = new Set<string>();
  private readonly cancelListeners = new Set<(id: string) => void>();
  private readonly subscriptions: Array<{ frontend: string; listener: (r: InferenceReply) => void }> = [];
  private closed = false;

  constructor(private readonly broker: MemoryBroker) {}

  async enqueue(r: QueuedInference): Promise<void> {
    this.open();
    validateRequest(r);
    const b = this.broker;
    // The Redis queue cannot detect a reused id; here entries are keyed by it, so refuse.
    if (b.pending.has(r.id) || b.held.has(r.id))
      throw new SlackserveError('INPUT_INVALID', `request id ${JSON.stringify(r.id)} is already queued`, { id: r.id });
    if (b.pending.size >= b.maxPending)
      throw new SlackserveError('QUEUE_FULL', QUEUE_FULL_MESSAGE, { maxPending: b.maxPending });
    b.pending.set(r.id, r);
    b.wake();
  }

  async cancel(id: string): Promise<boolean> {
    this.open();
    const b = this.broker;
    if (b.pending.delete(id)) return true;
    const h = b.held.get(id);
    if (h && !h.cancelled) {
      h.cancelled = true; // release drops it, reclaim drops it
      h.handle.notifyCancel(id);
    }
    return false;
  }

  onCancel(listener: (id: string) => void): () => void {
    this.cancelListeners.add(listener);
    return () => this.cancelListeners.delete(listener);
  }

  /** @internal the broker tells the handle that holds `id`. Async, like a pub/sub message. */
  notifyCancel(id: string): void {
    if (this.closed) return;
    queueMicrotask(() => {
      for (const l of this.cancelListeners) l(id);
    });
  }

  async pull(worker: string, max: number, blockMs: number): Promise<Delivery[]> {
    if (this.closed) return [];
    this.workers.add(worker);
    const b = this.broker;
    if (b.pending.size > 0) return b.take(this, worker, max);
    if (blockMs <= 0) return [];
    return new Promise<Delivery[]>((resolve) => b.block({ handle: this, worker, max, resolve, deadline: Date.now() + blockMs }));
  }

  async ack(deliveries: readonly Delivery[]): Promise<void> {
    for (const d of deliveries) this.broker.held.delete(d.request.id);
  }

  async release(deliveries: readonly Delivery[]): Promise<void> {
    const b = this.broker;
    for (const d of deliveries) {
      const h = b.held.get(d.request.id);
      // Only what this worker still holds: another may have reclaimed it meanwhile.
      if (!h || !(d instanceof MemoryDelivery) || h.worker !== d.worker) continue;
      b.held.delete(d.request.id);
      // Back at the tail, like the Redis queue's re-XADD; a cancelled one is simply dropped.
      if (!h.cancelled) b.pending.set(d.request.id, d.request);
    }
    b.wake();
  }

  async reclaim(worker: string, minIdleMs: number, max: number): Promise<Delivery[]> {
    this.open();
    this.workers.add(worker);
    const b = this.broker;
    const now = Date.now();
    const out: Delivery[] = [];
    for (const [id, h] of b.held) {
      if (out.length >= max) break;
      if (h.worker === worker || now - h.sinceMs < minIdleMs || b.isAlive(h.worker)) continue;
      if (h.cancelled) {
        b.held.delete(id); // the client is gone: drop instead of re-running
        continue;
      }
      h.worker = worker;
      h.handle = this;
      h.sinceMs = now;
      out.push(new MemoryDelivery(h.request, worker));
    }
    return out;
  }

  async reply(r: InferenceReply, frontend: string): Promise<void> {
    const listeners = this.broker.replyListeners.get(frontend);
    if (!listeners) return; // nobody listens: dropped, like the Redis queue
    for (const l of listeners) this.broker.post(() => listeners.has(l) && l(r)); // unless unsubscribed meanwhile
  }

  async subscribeReplies(frontend: string, onReply: (r: InferenceReply) => void): Promise<() => Promise<void>> {
    this.open();
    const map = this.broker.replyListeners;
    let set = map.get(frontend);
    if (!set) map.set(frontend, (set = new Set()));
    const listener = (r: InferenceReply): void => onReply(r);
    set.add(listener);
    const sub = { frontend, listener };
    this.subscriptions.push(sub);
    return async () => {
      const i = this.subscriptions.indexOf(sub);
      if (i >= 0) this.subscriptions.splice(i, 1);
      this.unlisten(frontend, listener);
    };
  }

  async depth(): Promise<number> {
    return this.broker.pending.size;
  }

  async outstanding(): Promise<number> {
    return this.broker.pending.size + this.broker.held.size;
  }

  async ready(): Promise<boolean> {
    return !this.closed;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const b = this.broker;
    b.handles.delete(this); // its workers are dead from now on: what they hold is reclaimable
    for (const w of b.waiters.filter((x) => x.handle === this)) b.unblock(w);
    for (const s of this.subscriptions.splice(0)) this.unlisten(s.frontend, s.listener);
    this.cancelListeners.clear();
  }

  private unlisten(frontend: string, listener: (r: InferenceReply) => void): void {
    const set = this.broker.replyListeners.get(frontend);
    set?.delete(listener);
    if (set?.size === 0) this.broker.replyListeners.delete(frontend);
  }

  private open(): void {
    if (this.closed) throw new SlackserveError('BACKEND_UNAVAILABLE', 'request queue is closed');
  }
}

/** A fresh in-process queue (its own broker); `broker.connect()` gives more handles on it. */
export function createMemoryQueue(opts: MemoryQueueOptions = {}): MemoryQueue {
  return new MemoryBroker(opts).connect();
}
