/**
 * A worker's blocking pulls on the Redis queue: one connection per concurrent XREADGROUP (kept for
 * reuse), the pulls in flight, and what a pull does when its connection fails under it. Kept
 * apart from RedisQueue, which owns the command connection, the consumer group and the other
 * sides (enqueue, replies, deliveries), and hands this class what it needs.
 *
 * Two ways a pull can lose what Redis gave it, both seen in Sentinel failovers:
 * - its connection closes while it is in flight (it fails, or ioredis resends it on a new
 *   connection): entries Redis delivered on the old one are pending in the worker's name but
 *   never reached it, so the worker's next pull takes them back first (RedisWorkers.recoverOwn);
 * - its server stops answering with the socket open (a frozen master): no error ever comes, so a
 *   pull unanswered PULL_HUNG_AFTER_MS past its BLOCK has its connection ended.
 */
import type { Redis } from 'ioredis';
import { SlackserveError } from '../errors.js';
import { streamEntries, type RawEntry } from './redis-wire.js';
import type { Delivery } from './types.js';

/** A pull unanswered this long past its BLOCK time has its connection ended. */
export const PULL_HUNG_AFTER_MS = 1_000;

/** A pull in flight: when it started (RedisWorkers counts only entries delivered before). */
export interface PullInFlight {
  readonly startMs: number;
}

/** What the pulls use of their queue handle. */
export interface PullsHost {
  /** The request stream's key, and its consumer group. */
  readonly key: string;
  readonly group: string;
  /** host:port of Redis (no credentials), for the hung-pull error. */
  readonly address: string;
  /** A new connection with the queue's settings. */
  connection(): Redis;
  /** The worker's own pending entries this handle neither holds nor is ending (Redis errors throw). */
  recoverOwn(worker: string, max: number): Promise<Delivery[]>;
  /** Decodes pulled entries into deliveries held by `worker`. */
  accept(worker: string, raw: RawEntry[]): Promise<Delivery[]>;
  /** The stream (and its group) is gone: create the group again before the next pull. */
  lostGroup(): void;
  /** The client-facing error for a Redis failure (the driver's text goes to the log). */
  fail(err: unknown): SlackserveError;
  closed(): boolean;
}

export class RedisPulls {
  /** Blocking XREADGROUP needs a connection of its own per concurrent pull. */
  private readonly idle: Redis[] = [];
  private readonly all = new Set<Redis>();
  /** Times each connection has closed (a pull compares before and after). */
  private readonly closes = new WeakMap<Redis, number>();
  /** Workers whose last pull's connection closed while it was in flight (see the file comment). */
  private readonly cut = new Set<string>();
  /** The pulls in flight on this handle. */
  readonly inFlight = new Set<PullInFlight>();

  constructor(private readonly h: PullsHost) {}

  /** Up to `max` new entries for `worker`, waiting at most `blockMs` for some. */
  async pull(worker: string, max: number, blockMs: number): Promise<Delivery[]> {
    const { h } = this;
    const count = Math.max(1, Math.floor(max));
    if (this.cut.has(worker)) {
      let back: Delivery[];
      try {
        back = await h.recoverOwn(worker, count);
      } catch (err) {
        throw h.fail(err);
      }
      if (back.length < count) this.cut.delete(worker);
      if (back.length > 0) return back;
    }
    const args: (string | number)[] = ['GROUP', h.group, worker, 'COUNT', count];
    if (blockMs > 0) args.push('BLOCK', Math.ceil(blockMs));
    args.push('STREAMS', h.key, '>');
    const conn = this.idle.pop() ?? this.connect();
    const pull: PullInFlight = { startMs: Date.now() };
    this.inFlight.add(pull);
    const closesBefore = this.closes.get(conn) ?? 0;
    const hungAfterMs = Math.max(0, blockMs) + PULL_HUNG_AFTER_MS;
    let hung = false;
    const watchdog = setTimeout(() => {
      hung = true;
      this.all.delete(conn);
      conn.disconnect(); // rejects the pull
    }, hungAfterMs);
    let res: unknown;
    try {
      res = await conn.callBuffer('XREADGROUP', args);
      if ((this.closes.get(conn) ?? 0) !== closesBefore) this.cut.add(worker);
    } catch (err) {
      if (h.closed()) return [];
      this.cut.add(worker);
      if (hung) throw new SlackserveError('BACKEND_UNAVAILABLE', `redis at ${h.address} left a pull unanswered for ${hungAfterMs} ms`);
      if (err instanceof Error && err.message.startsWith('NOGROUP')) h.lostGroup();
      throw h.fail(err);
    } finally {
      clearTimeout(watchdog);
      this.inFlight.delete(pull);
      if (h.closed()) conn.disconnect();
      else if (!hung) this.idle.push(conn);
    }
    return h.accept(worker, streamEntries(res));
  }

  private connect(): Redis {
    const c = this.h.connection();
    c.on('close', () => this.closes.set(c, (this.closes.get(c) ?? 0) + 1));
    this.all.add(c);
    return c;
  }

  /** Ends every pull connection (blocked pulls resolve []). */
  close(): void {
    for (const c of this.all) c.disconnect();
    this.all.clear();
    this.idle.length = 0;
  }
}
