/**
 * Cancellations as a worker hears them: ids published on the cancel channel (`{p}:cancel`) by
 * frontends whose clients gave up. A cancelled request held here is reported to the listeners (the
 * worker drops it from its local queue); one pulled or reclaimed later is dropped on arrival, for
 * as long as the id is remembered. Kept apart from RedisQueue, which owns the subscriber
 * connection (shared with the pub/sub reply transport) and hands this class the channel's messages.
 */
import type { Redis } from 'ioredis';
import type { SlackserveError } from '../errors.js';

/** How long a worker remembers a cancelled id (to drop it if it is pulled or reclaimed later). */
const CANCEL_MEMORY_MS = 60_000;

export interface CancelsHost {
  readonly channel: string;
  /** Requests pulled through this handle, not yet acked or released: request id -> entry id. */
  readonly held: ReadonlyMap<string, string>;
  /** The handle's pub/sub connection. */
  subscriber(): Redis;
  fail(err: unknown): SlackserveError;
}

export class HeardCancels {
  /** Cancelled ids, with when heard (insertion order = time order). */
  private readonly heardAt = new Map<string, number>();
  private readonly listeners = new Set<(id: string) => void>();
  private subscribed: Promise<unknown> | undefined;

  constructor(private readonly h: CancelsHost) {}

  /** Workers subscribe before their first pull, so no cancel is missed after. */
  listen(): Promise<unknown> {
    this.subscribed ??= this.h
      .subscriber()
      .subscribe(this.h.channel)
      .catch((e: unknown) => {
        this.subscribed = undefined;
        throw this.h.fail(e);
      });
    return this.subscribed;
  }

  /** A message on the cancel channel. */
  heard(id: string): void {
    const now = Date.now();
    this.heardAt.set(id, now);
    this.forget(now);
    if (this.h.held.has(id)) for (const l of this.listeners) l(id);
  }

  has(id: string): boolean {
    return this.heardAt.has(id);
  }

  /** Forgets ids heard longer ago than CANCEL_MEMORY_MS. */
  forget(now: number): void {
    for (const [id, t] of this.heardAt) {
      if (t + CANCEL_MEMORY_MS >= now) break;
      this.heardAt.delete(id);
    }
  }

  onCancel(listener: (id: string) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}
