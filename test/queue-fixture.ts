/**
 * Shared by the request-queue tests (queue-contract, redis-queue-only): the implementations the
 * contract runs against (in-process, Redis with either reply transport, each test under a unique
 * key prefix), a request and a reply to send, and an admin connection to the real Redis at
 * 127.0.0.1:6379 (the importing file disconnects it in its afterAll).
 */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { MemoryBroker } from '../src/queue/memory-queue.js';
import { RedisQueue, type ReplyTransport } from '../src/queue/redis-queue.js';
import { deleteKeysUnder } from '../src/queue/redis-keys.js';
import { CuttableProxy } from './cuttable-proxy.js';
import type { Delivery, InferenceReply, QueuedInference, RequestQueue } from '../src/queue/types.js';

export const REDIS_URL = 'redis://127.0.0.1:6379';
export const admin = new Redis(REDIS_URL, { protocol: 2 });

export function uniquePrefix(): string {
  return `test-queue-${process.pid}-${randomBytes(4).toString('hex')}`;
}

export async function deleteKeys(prefix: string): Promise<void> {
  await deleteKeysUnder(admin, prefix);
}

/** One test's world: handles on one broker (memory) or one prefix (Redis), like processes. */
export interface World {
  make(): RequestQueue;
  cleanup(): Promise<void>;
}
export interface Impl {
  readonly name: string;
  world(opts?: { maxPending?: number }): World;
}

export const memory: Impl = {
  name: 'memory',
  world(opts = {}) {
    const broker = new MemoryBroker(opts);
    const made: RequestQueue[] = [];
    return {
      make: () => {
        const q = broker.connect();
        made.push(q);
        return q;
      },
      cleanup: async () => {
        await Promise.all(made.map((q) => q.close()));
      },
    };
  },
};

export function redis(replyTransport: ReplyTransport): Impl {
  return {
    name: `redis (${replyTransport} replies)`,
    world(opts = {}) {
      const prefix = uniquePrefix();
      const made: RequestQueue[] = [];
      return {
        make: () => {
          const q = new RedisQueue({ url: REDIS_URL, prefix, replyTransport, workerTtlMs: 500, ...opts });
          made.push(q);
          return q;
        },
        cleanup: async () => {
          await Promise.all(made.map((q) => q.close()));
          await deleteKeys(prefix);
        },
      };
    },
  };
}

let seq = 0;
export function request(overrides: Partial<QueuedInference> = {}, batch = 1): QueuedInference {
  seq++;
  return {
    id: `f1:${seq}`,
    frontend: 'f1',
    model: 'fmnist',
    arrivalMs: Date.now(),
    deadlineMs: Date.now() + 60_000,
    minAccuracy: 0.9,
    priority: 0,
    sheddable: true,
    sloClass: 'interactive',
    downgraded: false,
    shape: [batch, 1, 28, 28],
    data: new Uint8Array(randomBytes(batch * 784 * 4)),
    ...overrides,
  };
}

export function okReply(id: string, logits: Uint8Array, final = true): InferenceReply {
  return {
    id,
    ok: true,
    final,
    subnet: 'd2-w0.5',
    exit: final ? null : 'ramp-1',
    logits,
    classes: [3],
    queueUs: 120,
    computeUs: 800,
    deadlineMet: true,
    downgraded: false,
    worker: 'w1',
    extra: { confidence: 0.93, note: 'x' },
  };
}

export async function waitFor(cond: () => boolean, ms = 2_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 5));
  }
}

export const ids = (ds: readonly Delivery[]): string[] => ds.map((d) => d.request.id);

/**
 * A frontend handle on the real Redis and a worker handle reaching it through a CuttableProxy
 * (a Redis outage or freeze as the worker sees it); all three closed by the caller's closers.
 */
export async function workerBehindProxy(
  prefix: string,
  closers: (() => Promise<void> | void)[],
): Promise<{ proxy: CuttableProxy; frontend: RedisQueue; worker: RedisQueue }> {
  const proxy = new CuttableProxy();
  const port = await proxy.listen();
  closers.push(() => proxy.close());
  const frontend = new RedisQueue({ url: REDIS_URL, prefix });
  const worker = new RedisQueue({ url: `redis://127.0.0.1:${port}`, prefix });
  closers.push(
    () => frontend.close(),
    () => worker.close(),
  );
  return { proxy, frontend, worker };
}
