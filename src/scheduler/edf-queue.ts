/**
 * The local pending queue in scheduling order: Triton priority level first (1 is highest; 0 means
 * the default level), then earliest deadline, then arrival. A binary heap with lazy deletion, so
 * taking a policy's chosen requests (not always a prefix) costs O(k log n). Shared by the worker
 * loop and the simulator; it is a data structure, not a policy, and reads no clock.
 */
import type { QueuedRequest, QueueView } from './types.js';

export class EdfQueue implements QueueView {
  private heap: QueuedRequest[] = [];
  private readonly removed = new Set<number>();
  private live = 0;
  private liveImages = 0;

  /** @param defaultPriority the level that priority 0 means (Triton's default_priority_level). */
  constructor(private readonly defaultPriority = 1) {}

  get length(): number {
    return this.live;
  }

  /** Images in the queued requests. */
  get images(): number {
    return this.liveImages;
  }

  push(r: QueuedRequest): void {
    this.heap.push(r);
    this.up(this.heap.length - 1);
    this.live++;
    this.liveImages += r.size ?? 1;
  }

  earliest(k: number): readonly QueuedRequest[] {
    const out: QueuedRequest[] = [];
    while (out.length < k && this.heap.length > 0) {
      const r = this.pop();
      if (this.removed.delete(r.key)) continue; // lazily deleted
      out.push(r);
    }
    for (const r of out) {
      this.heap.push(r);
      this.up(this.heap.length - 1);
    }
    return out;
  }

  /** Removes these requests (each must be in the queue, once). */
  take(rs: readonly QueuedRequest[]): void {
    for (const r of rs) {
      this.removed.add(r.key);
      this.liveImages -= r.size ?? 1;
    }
    this.live -= rs.length;
    if (this.live === 0) {
      this.heap = [];
      this.removed.clear();
      this.liveImages = 0;
    }
  }

  /** Removes one request by key if present (client cancellation); true when it was queued. */
  cancel(key: number): boolean {
    if (this.removed.has(key)) return false;
    const r = this.heap.find((x) => x.key === key);
    if (!r) return false;
    this.take([r]);
    return true;
  }

  /** All queued requests in no particular order (draining at shutdown). */
  drain(): QueuedRequest[] {
    const out = this.heap.filter((r) => !this.removed.has(r.key));
    this.heap = [];
    this.removed.clear();
    this.live = 0;
    this.liveImages = 0;
    return out;
  }

  private level(r: QueuedRequest): number {
    return r.priority === 0 ? this.defaultPriority : r.priority;
  }

  private less(a: QueuedRequest, b: QueuedRequest): boolean {
    const la = this.level(a);
    const lb = this.level(b);
    if (la !== lb) return la < lb;
    if (a.deadline !== b.deadline) return a.deadline < b.deadline;
    return a.arrival < b.arrival || (a.arrival === b.arrival && a.key < b.key);
  }

  private pop(): QueuedRequest {
    const h = this.heap;
    const top = h[0] as QueuedRequest;
    const last = h.pop() as QueuedRequest;
    if (h.length > 0) {
      h[0] = last;
      this.down(0);
    }
    return top;
  }

  private up(i: number): void {
    const h = this.heap;
    const x = h[i] as QueuedRequest;
    while (i > 0) {
      const p = (i - 1) >> 1;
      const hp = h[p] as QueuedRequest;
      if (!this.less(x, hp)) break;
      h[i] = hp;
      i = p;
    }
    h[i] = x;
  }

  private down(i: number): void {
    const h = this.heap;
    const n = h.length;
    const x = h[i] as QueuedRequest;
    for (;;) {
      let c = 2 * i + 1;
      if (c >= n) break;
      if (c + 1 < n && this.less(h[c + 1] as QueuedRequest, h[c] as QueuedRequest)) c++;
      if (!this.less(h[c] as QueuedRequest, x)) break;
      h[i] = h[c] as QueuedRequest;
      i = c;
    }
    h[i] = x;
  }
}
