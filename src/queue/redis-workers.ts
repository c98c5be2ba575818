/**
 * Workers' liveness on the Redis queue: the heartbeats (`{p}:alive:{worker}`, PX workerTtlMs) of
 * the workers pulling through a handle, whether any worker anywhere is alive, and taking back the
 * requests their worker will never answer: those a dead worker held, and a worker's own entries
 * lost in transit. Kept apart from the pull path (RedisQueue), which hands this class its
 * connection and its bookkeeping of what it holds.
 */
import type { Redis } from 'ioredis';
import type { SlackserveError } from '../errors.js';
import type { ScriptName } from './redis-lua.js';
import { globEscape, streamEntries, type RawEntry } from './redis-wire.js';
import type { Delivery } from './types.js';

/** How long the answer to "is any worker alive?" is reused (health checks must not hammer Redis). */
const WORKERS_ALIVE_CACHE_MS = 250;
/** An own entry not held here counts as lost only after this long (no race with a pull's reply). */
const OWN_LOST_MIN_IDLE_MS = 1_000;

/** What the workers' side uses of its queue handle. */
export interface WorkersHost {
  /** The auto-pipelined command connection. */
  readonly cmd: Redis;
  readonly prefix: string;
  /** A worker whose heartbeat is older than this is dead and what it holds reclaimable. */
  readonly workerTtlMs: number;
  /** The request stream's key, and its consumer group. */
  readonly key: string;
  readonly group: string;
  /** Start times (ms) of the pulls in flight on this handle. */
  readonly pullsInFlight: ReadonlySet<{ readonly startMs: number }>;
  /** Requests pulled through this handle, not yet acked or released: request id -> entry id. */
  readonly held: ReadonlyMap<string, string>;
  /** Entries not held but on their way out: an ack or release in flight, or a failed ack (not lost). */
  leaving(entry: string): boolean;
  /** How many entries leaving() is true of (at most). */
  leavingCount(): number;
  script(name: ScriptName, args: (string | Buffer | number)[]): Promise<unknown>;
  /** A command with Buffer replies on the command connection. */
  buffered(command: string, args: (string | Buffer | number)[]): Promise<unknown>;
  /** Decodes claimed entries into deliveries held by `worker`; drops (acks) cancelled and unreadable ones. */
  accept(worker: string, raw: RawEntry[]): Promise<Delivery[]>;
  /** The client-facing error for a Redis failure (the driver's text goes to the log). */
  fail(err: unknown): SlackserveError;
  /** Starts the handle's upkeep timer (which sends heartbeats()). */
  ensureTimer(): void;
  /** Redis is known unreachable. */
  down(): boolean;
  closed(): boolean;
}

export class RedisWorkers {
  /** Workers that pulled through this handle: heartbeats kept while it is open. */
  private readonly workers = new Set<string>();
  private aliveCache: { at: number; value: Promise<boolean> } | undefined;
  /**
   * claim() and recoverOwn() one at a time: each takes back own pending entries this handle does
   * not hold, and an entry one of them has taken but not yet accepted (reply in flight) would
   * look lost to the other.
   */
  private taking: Promise<unknown> = Promise.resolve();

  private exclusive<T>(f: () => Promise<T>): Promise<T> {
    const run = this.taking.then(f, f);
    this.taking = run.catch(() => undefined);
    return run;
  }

  constructor(private readonly h: WorkersHost) {}

  private aliveKey(worker: string): string {
    return `${this.h.prefix}:alive:${worker}`;
  }

  /** Marks `worker` alive before it can hold anything, and keeps it so while this handle is open. */
  async touch(worker: string): Promise<void> {
    if (this.workers.has(worker)) return;
    await this.h.cmd.set(this.aliveKey(worker), '1', 'PX', this.h.workerTtlMs).catch((e: unknown) => {
      throw this.h.fail(e);
    });
    this.workers.add(worker);
    this.h.ensureTimer();
  }

  /** Refreshes the heartbeats of this handle's workers (every TTL/3, from the upkeep timer). */
  heartbeats(): Promise<unknown>[] {
    return [...this.workers].map((w) => this.h.cmd.set(this.aliveKey(w), '1', 'PX', this.h.workerTtlMs));
  }

  /** The heartbeat keys of this handle's workers (deleted on close: they are dead at once). */
  aliveKeys(): string[] {
    return [...this.workers].map((w) => this.aliveKey(w));
  }

  /** Some worker's heartbeat is live (any `{p}:alive:*` key); cached WORKERS_ALIVE_CACHE_MS. */
  anyAlive(): Promise<boolean> {
    if (this.h.closed() || this.h.down()) return Promise.resolve(false);
    const now = Date.now();
    if (this.aliveCache && now - this.aliveCache.at < WORKERS_ALIVE_CACHE_MS) return this.aliveCache.value;
    const value = this.scanAlive().catch(() => false);
    this.aliveCache = { at: now, value };
    return value;
  }

  /** Redis's reachability changed: the cached anyAlive() answer is stale. */
  forgetAlive(): void {
    this.aliveCache = undefined;
  }

  private async scanAlive(): Promise<boolean> {
    const match = `${globEscape(this.h.prefix)}:alive:*`;
    let cursor = '0';
    for (let i = 0; i < 100; i++) {
      const [next, keys] = await this.h.cmd.scan(cursor, 'MATCH', match, 'COUNT', 1000);
      if (keys.length > 0) return true;
      cursor = next;
      if (cursor === '0') return false;
    }
    return false;
  }

  /**
   * Up to `max` entries idle at least `idle` ms, taken for `worker`: its own lost in transit,
   * then those of dead workers (whose consumers, once empty, are removed). Redis errors throw.
   */
  claim(worker: string, idle: number, max: number): Promise<Delivery[]> {
    return this.exclusive(() => this.claimNow(worker, idle, max));
  }

  /**
   * Up to `max` of `worker`'s own pending entries this handle neither holds nor is ending, at
   * once, whatever their idle time. For after a pull whose connection closed while it was in
   * flight: Redis may have delivered entries on it (they are pending in our name) whose reply
   * never reached us, as when a Sentinel failover cuts a blocked XREADGROUP. Waiting for them to
   * idle OWN_LOST_MIN_IDLE_MS, as claim() does, made such requests miss their deadline.
   * The caller guarantees no pull of `worker` is in flight. Redis errors throw.
   */
  recoverOwn(worker: string, max: number): Promise<Delivery[]> {
    return this.exclusive(async () => {
      const { key, group, held } = this.h;
      // the own history (id 0) lists held and leaving entries too: read past them
      const count = Math.min(held.size + this.h.leavingCount() + Math.max(1, max), 10_000);
      const res = await this.h.buffered('xreadgroup', ['GROUP', group, worker, 'COUNT', count, 'STREAMS', key, '0']);
      const holding = new Set(held.values());
      const lost = streamEntries(res).filter(([id]) => {
        const entry = id.toString();
        return !holding.has(entry) && !this.h.leaving(entry);
      });
      return this.h.accept(worker, lost.slice(0, Math.max(1, max)));
    });
  }

  private async claimNow(worker: string, idle: number, max: number): Promise<Delivery[]> {
    const { cmd, key, group } = this.h;
    const out: Delivery[] = [];
    /** XCLAIM re-checks the idle time, so two reclaimers racing cannot both get an entry. */
    const claim = async (ids: string[], minIdle = idle): Promise<void> => {
      if (ids.length === 0) return;
      const claimed = (await this.h.buffered('xclaim', [key, group, worker, minIdle, ...ids])) as (RawEntry | null)[];
      out.push(...(await this.h.accept(worker, claimed.filter((e): e is RawEntry => e !== null))));
    };
    const pendingOf = async (consumer: string, count: number, minIdle = idle): Promise<string[]> => {
      const p = (await cmd.call('XPENDING', key, group, 'IDLE', minIdle, '-', '+', count, consumer)) as [string, ...unknown[]][];
      return p.map((e) => e[0]);
    };
    // XINFO CONSUMERS: [[name, n, pending, n, idle, n, ...], ...]
    const info = ((await cmd.call('XINFO', 'CONSUMERS', key, group)) as unknown[][]).map((c) => ({
      name: String(c[1]),
      pending: Number(c[3]),
    }));
    // Our own entries lost in transit: delivered to us (in our pending list) but not held by
    // this handle, as when an XREADGROUP reply dies with its connection. Nobody else would
    // ever take them from a live worker, so we take them back.
    // Entries a pull still in flight has been given are not lost: only those delivered before
    // the oldest such pull began (plus a second's margin for clocks and transit) count.
    const own = info.find((c) => c.name === worker);
    if (own && own.pending > 0) {
      let ownIdle = Math.max(idle, OWN_LOST_MIN_IDLE_MS);
      for (const p of this.h.pullsInFlight) ownIdle = Math.max(ownIdle, Date.now() - p.startMs + 1_000);
      const holding = new Set(this.h.held.values());
      const lost = (await pendingOf(worker, Math.min(own.pending, 10_000), ownIdle)).filter((id) => !holding.has(id) && !this.h.leaving(id));
      await claim(lost.slice(0, max), ownIdle);
    }
    const others = info.filter((c) => c.name !== worker);
    const alive = await Promise.all(others.map((c) => cmd.exists(this.aliveKey(c.name))));
    for (const [i, c] of others.entries()) {
      if (alive[i] === 1) continue; // a live worker keeps what it holds, however long
      if (c.pending === 0) {
        await this.h.script('ssReap', [key, this.aliveKey(c.name), group, c.name]);
        continue;
      }
      if (out.length < max) await claim(await pendingOf(c.name, max - out.length));
    }
    return out;
  }
}
