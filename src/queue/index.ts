/**
 * The request queue: in-process when no Redis URL is configured (the embedded default: one
 * `slackserve serve` process, nothing installed), Redis Streams otherwise (any number of
 * frontends and workers sharing one Redis). Same interface and semantics; docs/queue.md.
 */
import { createMemoryQueue } from './memory-queue.js';
import type { SentinelAddress } from './redis-connect.js';
import { RedisQueue, type ReplyTransport } from './redis-queue.js';
import type { RequestQueue } from './types.js';

export * from './types.js';
export { MemoryBroker, MemoryQueue, createMemoryQueue, type MemoryQueueOptions } from './memory-queue.js';
export {
  DEFAULT_PREFIX,
  DEFAULT_READY_TIMEOUT_MS,
  DEFAULT_REPLY_MAXLEN,
  DEFAULT_REPLY_TRANSPORT,
  DEFAULT_WORKER_TTL_MS,
  RedisQueue,
  type RedisQueueOptions,
  type ReplyTransport,
} from './redis-queue.js';

export { connectRedis, targetAddress, type RedisTarget, type SentinelAddress } from './redis-connect.js';

export interface QueueOptions {
  /** redis://host:port[/db]; undefined or empty (and no sentinels): the in-process queue. */
  readonly redisUrl?: string | undefined;
  /** Redis Sentinels naming the master (then redisUrl gives only its credentials and db). */
  readonly sentinels?: readonly SentinelAddress[] | undefined;
  readonly sentinelName?: string | undefined;
  readonly sentinelPassword?: string | undefined;
  /** PEM CA bundle for a `rediss://` URL (RedisTarget.tlsCa). */
  readonly tlsCa?: string | Buffer | undefined;
  /** Key prefix in Redis (default `slackserve`), so deployments and tests can share a server. */
  readonly prefix?: string | undefined;
  /** Bound on requests admitted and not yet pulled (default DEFAULT_MAX_PENDING). */
  readonly maxPending?: number | undefined;
  /** Redis only: how replies travel back (default DEFAULT_REPLY_TRANSPORT). */
  readonly replyTransport?: ReplyTransport | undefined;
  /** Redis only: a worker silent this long is dead (default DEFAULT_WORKER_TTL_MS). */
  readonly workerTtlMs?: number | undefined;
  /** Redis only: ready() answers false after this long without a PONG. */
  readonly readyTimeoutMs?: number | undefined;
  /** Redis only: server log (reachability changes, the driver's error text). */
  readonly log?: ((line: string) => void) | undefined;
  /** Redis only: replicas that must hold a request before it is accepted (WAIT); default 0. */
  readonly waitReplicas?: number | undefined;
  /** Redis only: how long that wait may take, ms. */
  readonly waitTimeoutMs?: number | undefined;
}

export function createQueue(opts: QueueOptions = {}): RequestQueue {
  const sentinels = opts.sentinels ?? [];
  if ((opts.redisUrl === undefined || opts.redisUrl === '') && sentinels.length === 0) return createMemoryQueue({ maxPending: opts.maxPending });
  return new RedisQueue({
    url: opts.redisUrl ?? 'redis://',
    ...(sentinels.length > 0 ? { sentinels, sentinelName: opts.sentinelName, sentinelPassword: opts.sentinelPassword } : {}),
    ...(opts.tlsCa !== undefined ? { tlsCa: opts.tlsCa } : {}),
    prefix: opts.prefix,
    maxPending: opts.maxPending,
    replyTransport: opts.replyTransport,
    workerTtlMs: opts.workerTtlMs,
    readyTimeoutMs: opts.readyTimeoutMs,
    waitReplicas: opts.waitReplicas,
    waitTimeoutMs: opts.waitTimeoutMs,
    ...(opts.log ? { log: opts.log } : {}),
  });
}
