/**
 * The frontend's side of the Redis queue: putting a request on the stream (and, with
 * `waitReplicas`, on enough replicas before it counts as accepted), withdrawing it (cancel), and
 * remembering each request's stream entry until its deadline has long passed (the lost-request
 * check after a failover compares them with the new master's stream). Kept apart from RedisQueue,
 * which hands this class its connections, its reachability and its upkeep timer.
 */
import type { Redis, RedisOptions } from 'ioredis';
import { SlackserveError } from '../errors.js';
import { asBuffer, encodeMeta, validateRequest } from './codec.js';
import type { ScriptName } from './redis-lua.js';
import { SCRIPTS } from './redis-lua.js';
import type { RedisReachability } from './redis-reachability.js';
import { ReplicaWait } from './redis-replica-wait.js';
import { backend } from './redis-wire.js';
import { QUEUE_FULL_MESSAGE, type QueuedInference } from './types.js';

/** The frontend forgets the stream entry id of a request this long after its deadline. */
const ENTRY_ID_GRACE_MS = 60_000;
/**
 * Sentinel mode: how long an enqueue waits for a failover to end (a master again) before failing
 * BACKEND_UNAVAILABLE, never past the request's deadline; and how long a worker's reply waits to
 * be sent again.
 */
export const FAILOVER_WAIT_MS = 5_000;

/** Request id -> its stream entry id, while it may still be answered (shared with RedisReachability). */
export type EntryIds = Map<string, { entry: string; deadlineMs: number }>;

/** What the enqueue side uses of its queue handle. */
export interface EnqueueHost {
  /** The auto-pipelined command connection. */
  readonly cmd: Redis;
  /** The request stream's key, its consumer group, and the cancel channel. */
  readonly key: string;
  readonly group: string;
  readonly cancelChannel: string;
  /** host:port of Redis, for client-facing messages. */
  readonly address: string;
  /** Sentinel mode (an enqueue waits out a failover). */
  readonly sentinel: boolean;
  readonly maxPending: number;
  /** Replicas that must hold a request before it is accepted (0: none), and how long to wait. */
  readonly waitReplicas: number;
  readonly waitTimeoutMs: number;
  readonly autoPipelining: boolean;
  readonly entries: EntryIds;
  readonly reach: RedisReachability;
  /** A new connection with the queue's settings (followed with Sentinels). */
  connection(extra: Partial<RedisOptions>): Redis;
  script(name: ScriptName, args: (string | Buffer | number)[], conn?: Redis): Promise<unknown>;
  /** The consumer group exists (created with the stream if need be). */
  init(): Promise<void>;
  /** Starts the handle's upkeep timer (which calls forgetOld()). */
  ensureTimer(): void;
  closed(): boolean;
}

export class RedisEnqueue {
  /**
   * With `waitReplicas`: request writes and their WAITs go through a connection of their own, made
   * on the first enqueue, so a WAIT (which blocks the connection that sends it) never holds up
   * the commands on the command connection (cancels, the lost-request check, replies' upkeep).
   */
  private writer: { conn: Redis; wait: ReplicaWait } | undefined;

  constructor(private readonly h: EnqueueHost) {}

  async enqueue(r: QueuedInference): Promise<void> {
    const { h } = this;
    if (h.closed()) throw new SlackserveError('BACKEND_UNAVAILABLE', 'request queue is closed');
    validateRequest(r);
    // Known down: fail at once (the client learns now, not after the driver's reconnect attempts).
    // With Sentinels a master's loss is usually a failover that ends in seconds: wait for it, as
    // long as the request's deadline allows (at most FAILOVER_WAIT_MS), then go on or fail.
    if (h.reach.down && !(h.sentinel && (await h.reach.waitUp(Math.min(FAILOVER_WAIT_MS, r.deadlineMs - Date.now())))))
      throw backend(new Error('unreachable'), h.address);
    if (h.closed()) throw new SlackserveError('BACKEND_UNAVAILABLE', 'request queue is closed');
    await h.init();
    let entry: unknown;
    const writer = h.waitReplicas > 0 ? this.replicaWriter() : undefined;
    try {
      entry = await h.script('ssEnqueue', [h.key, h.group, h.maxPending, encodeMeta(r), asBuffer(r.data)], writer?.conn);
    } catch (err) {
      throw h.reach.fail(err);
    }
    if (entry === null) throw new SlackserveError('QUEUE_FULL', QUEUE_FULL_MESSAGE, { maxPending: h.maxPending });
    h.entries.set(r.id, { entry: String(entry), deadlineMs: r.deadlineMs });
    h.ensureTimer();
    if (writer) await this.replicated(r.id, writer.wait);
  }

  /**
   * Resolves once `waitReplicas` replicas hold the request (WAIT); otherwise it is withdrawn and
   * enqueue() fails UNAVAILABLE: it was never accepted. A failover that promotes a replica holding
   * it keeps it; one that promotes another (a forced failover's split-brain window) can still drop
   * it (measured: docs/serving.md). One WAIT at a time answers for every write before it
   * (redis-replica-wait.ts), on the writes' own connection.
   */
  private async replicated(id: string, wait: ReplicaWait): Promise<void> {
    const { h } = this;
    let acked: number;
    try {
      acked = await wait.acked();
    } catch (err) {
      await this.cancel(id).catch(() => false);
      throw h.reach.fail(err);
    }
    if (acked >= h.waitReplicas) return;
    await this.cancel(id).catch(() => false);
    throw new SlackserveError(
      'BACKEND_UNAVAILABLE',
      `queue backend unavailable (${h.address}): the request reached ${acked} of ${h.waitReplicas} replica(s) within ${h.waitTimeoutMs} ms (redisWaitReplicas), so it was not accepted`,
    );
  }

  /** The writes' own connection and their shared WAIT (waitReplicas > 0 only). */
  private replicaWriter(): { conn: Redis; wait: ReplicaWait } {
    if (!this.writer) {
      const { h } = this;
      const conn = h.connection({ enableAutoPipelining: h.autoPipelining, scripts: SCRIPTS });
      const wait = new ReplicaWait(async () => Number(await conn.call('WAIT', h.waitReplicas, h.waitTimeoutMs)));
      this.writer = { conn, wait };
    }
    return this.writer;
  }

  /** Withdraws a request: true if it was still waiting (nobody will run it). */
  async cancel(id: string): Promise<boolean> {
    const { h } = this;
    const e = h.entries.get(id);
    h.entries.delete(id);
    try {
      if (!e) {
        // Unknown here (another handle enqueued it, or it was forgotten): workers drop it.
        await h.cmd.publish(h.cancelChannel, id);
        return false;
      }
      return (await h.script('ssCancel', [h.key, h.group, e.entry, h.cancelChannel, id])) === 1;
    } catch (err) {
      throw h.reach.fail(err);
    }
  }

  /** Upkeep: forgets the entry ids of requests long past their deadline. */
  forgetOld(now: number): void {
    for (const [id, e] of this.h.entries) if (e.deadlineMs + ENTRY_ID_GRACE_MS < now) this.h.entries.delete(id);
  }

  close(): void {
    this.writer?.conn.disconnect();
  }
}
