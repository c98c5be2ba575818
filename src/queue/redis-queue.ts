/**
 * The request queue on Redis Streams, for any number of frontends and workers sharing one Redis.
 * Streams, not BullMQ, carry requests: one job per request saturated near 500-1,000 jobs/s here,
 * Streams with pipelining carried 5,000 req/s at p50 1.4 ms (docs/queue.md has this module's own
 * numbers). Key layout (prefix default `slackserve`):
 *   {p}:requests            stream, consumer group `workers`; fields m (JSON metadata), d (tensor)
 *   {p}:cancel              pub/sub channel of cancelled request ids
 *   {p}:alive:{worker}      heartbeat (PX workerTtlMs) of each pulling worker
 *   {p}:replies:{frontend}  reply stream (or pub/sub channel, replyTransport 'pubsub')
 * Deadlines are not Redis TTLs: the worker checks them at dequeue.
 */
import type { Redis, RedisOptions } from 'ioredis';
import { SlackserveError } from '../errors.js';
import { connectRedis, isSentinel, targetAddress, type RedisTarget } from './redis-connect.js';
import { MasterFollower } from './redis-master-follow.js';
import { HeardCancels } from './redis-cancels.js';
import { RedisDeliveries } from './redis-deliveries.js';
import { SCRIPTS, type ScriptName } from './redis-lua.js';
import { RedisReachability } from './redis-reachability.js';
import { type EntryIds, FAILOVER_WAIT_MS, RedisEnqueue } from './redis-enqueue.js';
import { RedisPulls } from './redis-pulls.js';
import { RedisReplies, type ReplyTransport } from './redis-replies.js';
import { RedisWorkers } from './redis-workers.js';
import {
  DEFAULT_MAX_PENDING,
  type Delivery,
  type InferenceReply,
  type QueuedInference,
  type RequestQueue,
} from './types.js';

export type { ReplyTransport } from './redis-replies.js';

export const DEFAULT_PREFIX = 'slackserve';
/**
 * A worker whose heartbeat is older than this is dead and what it holds reclaimable. Refreshed
 * every TTL/3, so a live worker survives two missed refreshes.
 */
export const DEFAULT_WORKER_TTL_MS = 600;
export const DEFAULT_READY_TIMEOUT_MS = 1_000;
/** Approximate cap of a reply stream (MAXLEN ~); the frontend trims what it has read anyway. */
export const DEFAULT_REPLY_MAXLEN = 100_000;
export const DEFAULT_REPLY_TRANSPORT: ReplyTransport = 'stream';
export const DEFAULT_AUTO_PIPELINING = true;
export const DEFAULT_WAIT_TIMEOUT_MS = 200;
const GROUP = 'workers';

export interface RedisQueueOptions extends RedisTarget {
  readonly prefix?: string;
  readonly maxPending?: number;
  readonly replyTransport?: ReplyTransport;
  readonly workerTtlMs?: number;
  readonly readyTimeoutMs?: number;
  readonly replyMaxLen?: number;
  /** ioredis auto-pipelining on the command connection (see DEFAULT_AUTO_PIPELINING). */
  readonly autoPipelining?: boolean;
  /**
   * Replicas that must hold a request before enqueue() resolves (Redis WAIT): replication is
   * asynchronous, so a failover otherwise loses the writes the old master had not yet sent.
   */
  readonly waitReplicas?: number | undefined;
  /** How long enqueue() waits for them, ms (DEFAULT_WAIT_TIMEOUT_MS). */
  readonly waitTimeoutMs?: number | undefined;
  /** Server log: one line per change of Redis's reachability, and the driver's error text. */
  readonly log?: (line: string) => void;
}

export class RedisQueue implements RequestQueue {
  readonly prefix: string;
  private readonly target: RedisTarget;
  private readonly maxPending: number;
  private readonly transport: ReplyTransport;
  private readonly workerTtlMs: number;
  private readonly readyTimeoutMs: number;
  private readonly key: string;
  private readonly cancelChannel: string;

  /** Commands (auto-pipelined: concurrent calls in one tick go out as one write). */
  private readonly cmd: Redis;
  /** Pub/sub connection (cancellations; replies with the pubsub transport), made on first use. */
  private sub: Redis | undefined;

  private group: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  /** Worker: the blocking pulls and their connections. */
  private readonly pulls: RedisPulls;
  /** Worker: what this handle holds, and decoding, acking and releasing deliveries. */
  private readonly deliveries: RedisDeliveries;
  /** Worker: cancellations heard on the channel. */
  private readonly cancels: HeardCancels;
  /** Frontend: request id -> stream entry id, so cancel can delete it before it is pulled. */
  private readonly entries: EntryIds = new Map();
  /** Frontend: enqueue (with the replicas' WAIT) and cancel. */
  private readonly enq: RedisEnqueue;
  /** Reply streams (or channels) this handle reads, and replies waiting for this turn's flush. */
  private readonly replies: RedisReplies;
  /** Heartbeats of the workers pulling here, whether any is alive, reclaiming what the dead held. */
  private readonly workers: RedisWorkers;

  /** host:port of Redis (no credentials): what clients and the log are told. */
  readonly address: string;
  /** Whether Redis is reachable (and what follows a change); turns Redis failures into client errors. */
  private readonly reach: RedisReachability;
  /** With Sentinels: every connection follows the master the latest reconnect reached (redis-master-follow.ts). */
  private readonly follower: MasterFollower | undefined;

  constructor(opts: RedisQueueOptions) {
    this.target = opts;
    this.follower = isSentinel(opts) ? new MasterFollower(opts.log ?? (() => undefined)) : undefined;
    this.prefix = opts.prefix ?? DEFAULT_PREFIX;
    this.maxPending = opts.maxPending ?? DEFAULT_MAX_PENDING;
    this.transport = opts.replyTransport ?? DEFAULT_REPLY_TRANSPORT;
    this.workerTtlMs = opts.workerTtlMs ?? DEFAULT_WORKER_TTL_MS;
    this.readyTimeoutMs = opts.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS;
    this.key = `${this.prefix}:requests`;
    this.cancelChannel = `${this.prefix}:cancel`;
    this.address = targetAddress(opts);
    const autoPipelining = opts.autoPipelining ?? DEFAULT_AUTO_PIPELINING;
    this.cmd = this.connection({ enableAutoPipelining: autoPipelining, scripts: SCRIPTS });
    this.reach = new RedisReachability({
      cmd: this.cmd,
      key: this.key,
      address: this.address,
      readyTimeoutMs: this.readyTimeoutMs,
      sentinel: isSentinel(opts),
      log: opts.log ?? (() => undefined),
      entries: this.entries,
      answeredAmong: (ids) => this.replies.answeredAmong(ids),
      changed: () => this.workers.forgetAlive(),
      reconnected: () => (this.group = undefined), // a restarted Redis has no consumer group: create it again
      recovered: () => void this.maintain(), // heartbeats and reply streams back at once
      closed: () => this.closed,
    });
    this.deliveries = new RedisDeliveries({
      key: this.key,
      group: GROUP,
      cancelled: (id) => this.cancels.has(id),
      script: (name, args) => this.script(name, args),
      fail: (e) => this.reach.fail(e),
    });
    this.cancels = new HeardCancels({ channel: this.cancelChannel, held: this.deliveries.held, subscriber: () => this.subscriber(), fail: (e) => this.reach.fail(e) });
    this.enq = new RedisEnqueue({
      cmd: this.cmd,
      key: this.key,
      group: GROUP,
      cancelChannel: this.cancelChannel,
      address: this.address,
      sentinel: isSentinel(opts),
      maxPending: this.maxPending,
      waitReplicas: opts.waitReplicas ?? 0,
      waitTimeoutMs: opts.waitTimeoutMs ?? DEFAULT_WAIT_TIMEOUT_MS,
      autoPipelining,
      entries: this.entries,
      reach: this.reach,
      connection: (extra) => this.connection(extra),
      script: (name, args, conn) => this.script(name, args, conn),
      init: () => this.init(),
      ensureTimer: () => this.ensureTimer(),
      closed: () => this.closed,
    });
    this.replies = new RedisReplies({
      cmd: this.cmd,
      transport: this.transport,
      prefix: this.prefix,
      replyMaxLen: opts.replyMaxLen ?? DEFAULT_REPLY_MAXLEN,
      connection: () => this.connection(),
      subscriber: () => this.subscriber(),
      fail: (e) => this.reach.fail(e),
      script: (name, args) => this.script(name, args),
      ensureTimer: () => this.ensureTimer(),
      answered: (id) => this.entries.delete(id),
      closed: () => this.closed,
    });
    this.pulls = new RedisPulls({
      key: this.key,
      group: GROUP,
      address: this.address,
      connection: () => this.connection(),
      recoverOwn: (worker, max) => this.workers.recoverOwn(worker, max),
      accept: (worker, raw) => this.deliveries.accept(worker, raw),
      lostGroup: () => (this.group = undefined),
      fail: (e) => this.reach.fail(e),
      closed: () => this.closed,
    });
    this.workers = new RedisWorkers({
      cmd: this.cmd,
      prefix: this.prefix,
      workerTtlMs: this.workerTtlMs,
      key: this.key,
      group: GROUP,
      pullsInFlight: this.pulls.inFlight,
      held: this.deliveries.held,
      leaving: (entry) => this.deliveries.leaving(entry),
      leavingCount: () => this.deliveries.leavingCount,
      script: (name, args) => this.script(name, args),
      buffered: (command, args) => this.buffered(command, args),
      accept: (worker, raw) => this.deliveries.accept(worker, raw),
      fail: (e) => this.reach.fail(e),
      ensureTimer: () => this.ensureTimer(),
      down: () => this.reach.down,
      closed: () => this.closed,
    });
  }

  /** Called after each reconnection (the worker loop stops backing off). */
  onBackendUp(listener: () => void): () => void {
    return this.reach.onUp(listener);
  }

  backendDown(): boolean {
    return this.reach.down;
  }

  onBackendDown(listener: () => void): () => void {
    return this.reach.onDown(listener);
  }

  /** Frontend: request ids Redis lost (restarted without persistence, failed over); they will never be answered. */
  onLost(listener: (ids: readonly string[], cause: string) => void): () => void {
    return this.reach.onLost(listener);
  }

  /** Some worker's heartbeat is live (any `{p}:alive:*` key); cached briefly (see RedisWorkers). */
  workersAlive(): Promise<boolean> {
    return this.workers.anyAlive();
  }

  /** Fails fast when Redis is down (BACKEND_UNAVAILABLE, not a hang); see connectRedis. */
  private connection(extra: Partial<RedisOptions> = {}): Redis {
    const c = connectRedis(this.target, extra);
    this.follower?.add(c);
    return c;
  }

  private script(name: ScriptName, args: (string | Buffer | number)[], conn: Redis = this.cmd): Promise<unknown> {
    const fn = (conn as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>)[name]!;
    return fn.apply(conn, args);
  }

  /**
   * A command with Buffer replies on the auto-pipelined connection. Not `callBuffer`: with
   * auto-pipelining, ioredis 6.0.0 drops its command name (only `call` puts it back); the
   * generated `<command>Buffer` methods are fine.
   */
  private buffered(command: string, args: (string | Buffer | number)[]): Promise<unknown> {
    const fn = (this.cmd as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>)[`${command}Buffer`]!;
    return fn.apply(this.cmd, args);
  }

  /** The consumer group exists (created with the stream if need be); retried after a failure. */
  private init(): Promise<void> {
    this.group ??= this.cmd.call('XGROUP', 'CREATE', this.key, GROUP, '0', 'MKSTREAM').then(
      () => undefined,
      (err: unknown) => {
        if (err instanceof Error && err.message.startsWith('BUSYGROUP')) return;
        this.group = undefined;
        throw this.reach.fail(err);
      },
    );
    return this.group;
  }

  private ensureTimer(): void {
    if (this.timer || this.closed) return;
    this.timer = setInterval(() => void this.maintain(), Math.max(50, Math.floor(this.workerTtlMs / 3)));
    this.timer.unref();
  }

  /** Heartbeats, reply-stream upkeep, and forgetting old bookkeeping. Errors wait for next time. */
  private async maintain(): Promise<void> {
    if (this.closed) return;
    const now = Date.now();
    this.reach.probe(now);
    if (this.reach.down) return;
    const jobs: Promise<unknown>[] = [];
    jobs.push(...this.workers.heartbeats());
    jobs.push(this.deliveries.retryAcks());
    jobs.push(...this.replies.maintain(this.reach.checkingRestart));
    this.enq.forgetOld(now);
    this.cancels.forget(now);
    await Promise.allSettled(jobs);
  }

  private subscriber(): Redis {
    if (this.sub) return this.sub;
    const sub = this.connection();
    sub.on('messageBuffer', (channel: Buffer, message: Buffer) => {
      const ch = channel.toString();
      if (ch === this.cancelChannel) return this.cancels.heard(message.toString());
      this.replies.fromChannel(ch, message);
    });
    this.sub = sub;
    return sub;
  }

  enqueue(r: QueuedInference): Promise<void> {
    return this.enq.enqueue(r);
  }

  cancel(id: string): Promise<boolean> {
    return this.enq.cancel(id);
  }

  onCancel(listener: (id: string) => void): () => void {
    return this.cancels.onCancel(listener);
  }

  async pull(worker: string, max: number, blockMs: number): Promise<Delivery[]> {
    if (this.closed) return [];
    await this.init();
    await this.workers.touch(worker);
    await this.cancels.listen();
    if (this.closed) return []; // closed while connecting: open no blocking connection now
    return this.pulls.pull(worker, max, blockMs);
  }

  ack(deliveries: readonly Delivery[]): Promise<void> {
    return this.deliveries.ack(deliveries);
  }

  release(deliveries: readonly Delivery[]): Promise<void> {
    return this.deliveries.release(deliveries);
  }

  async reclaim(worker: string, minIdleMs: number, max: number): Promise<Delivery[]> {
    if (this.closed) return [];
    await this.init();
    await this.workers.touch(worker);
    await this.cancels.listen();
    try {
      return await this.workers.claim(worker, Math.max(0, Math.floor(minIdleMs)), max);
    } catch (err) {
      throw this.reach.fail(err);
    }
  }

  /**
   * Replies issued in the same JS turn to the same frontend (a worker answering a batch) go out
   * as one stream entry or one message (see RedisReplies.send).
   */
  async reply(r: InferenceReply, frontend: string): Promise<void> {
    try {
      await this.replies.send(r, frontend);
    } catch (err) {
      // Redis went away mid-reply (restart, failover): the answer is computed, so send it again
      // once Redis is back (within FAILOVER_WAIT_MS). If the first copy did land, the frontend
      // keeps one answer and drops the other.
      if (this.closed || !(await this.reach.waitUp(FAILOVER_WAIT_MS))) throw err;
      await this.replies.send(r, frontend);
    }
  }

  unhold(deliveries: readonly Delivery[]): void {
    this.deliveries.unhold(deliveries);
  }

  async subscribeReplies(frontend: string, onReply: (r: InferenceReply) => void): Promise<() => Promise<void>> {
    if (this.closed) throw new SlackserveError('BACKEND_UNAVAILABLE', 'request queue is closed');
    return this.replies.subscribe(frontend, onReply);
  }

  async depth(): Promise<number> {
    await this.init();
    try {
      return Math.max(0, Number(await this.script('ssDepth', [this.key, GROUP])));
    } catch (err) {
      throw this.reach.fail(err);
    }
  }

  /** Acked entries are deleted (ssAck), so the stream's length is what is waiting, held or running. */
  async outstanding(): Promise<number> {
    try {
      return await this.cmd.xlen(this.key);
    } catch (err) {
      throw this.reach.fail(err);
    }
  }

  ready(): Promise<boolean> {
    return this.reach.ready();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    this.pulls.close(); // blocked pulls resolve []
    const replyKeys = this.replies.stopAll();
    this.sub?.disconnect();
    this.enq.close();
    // Tell the others at once: this handle's workers are dead (what they hold becomes
    // reclaimable without waiting for the heartbeat to lapse), its reply streams are unread.
    const keys = this.workers.aliveKeys();
    keys.push(...replyKeys);
    if (keys.length > 0 && this.cmd.status === 'ready') {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        this.cmd.del(...keys).catch(() => 0),
        new Promise((r) => (timer = setTimeout(r, this.readyTimeoutMs))),
      ]);
      clearTimeout(timer);
    }
    this.cmd.disconnect();
  }
}
