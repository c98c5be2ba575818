/**
 * The request queue: in-process when no Redis URL is configured (the embedded default: one
 * `slackserve serve` process, nothing installed), Redis Streams otherwise (any number of
 * frontends and workers sharing one Redis). Same interface and semantics; docs/queue.md.
 */
import { createMemoryQueue } from './memory-queue.js';
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

export interface QueueOptions {
  /** redis://host:port[/db]; undefined or empty: the in-process queue. */
  readonly redisUrl?: string | undefined;
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
}

export function createQueue(opts: QueueOptions = {}): RequestQueue {
  if (opts.redisUrl === undefined || opts.redisUrl === '') return createMemoryQueue({ maxPending: opts.maxPending });
  return new RedisQueue({
    url: opts.redisUrl,
    prefix: opts.prefix,
    maxPending: opts.maxPending,
    replyTransport: opts.replyTransport,
    workerTtlMs: opts.workerTtlMs,
    readyTimeoutMs: opts.readyTimeoutMs,
    ...(opts.log ? { log: opts.log } : {}),
  });
}
