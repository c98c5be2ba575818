/**
 * Redis WAIT for replicas (redisWaitReplicas), shared (src/queue/redis-replica-wait.ts), against
 * real servers. WAIT blocks the connection that sends it. Sent once per request on the queue's
 * command connection, the WAITs of a burst queued one timeout after another whenever the master
 * had no replica in sync, and every command behind them (enqueues, cancels) with them: after a
 * Sentinel failover that held enqueues for ~10 s (redis-sentinel-stall.test.ts).
 */
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { RedisQueue } from '../../src/queue/redis-queue.js';
import { freePort, type Proc, startRedisServer } from '../cluster-procs.js';
import { admin, deleteKeys, REDIS_URL, request, uniquePrefix } from '../queue-fixture.js';

afterAll(() => admin.disconnect());

/** calls of a command on a server (INFO commandstats), 0 if never called */
function calls(info: string, command: string): number {
  return Number(new RegExp(`cmdstat_${command}:calls=(\\d+)`).exec(info)?.[1] ?? 0);
}

describe('Redis WAIT, one at a time', () => {
  const prefixes: string[] = [];
  const procs: Proc[] = [];
  afterAll(async () => {
    for (const p of prefixes) await deleteKeys(p);
    for (const p of procs) await p.kill();
  });

  it('a burst the replicas cannot hold is refused within two timeouts, not one timeout per request, and other commands are not held up', async () => {
    const prefix = uniquePrefix();
    prefixes.push(prefix);
    const replicas = Number(/connected_slaves:(\d+)/.exec(String(await admin.info('replication')))?.[1] ?? 0);
    const waitTimeoutMs = 300;
    const frontend = new RedisQueue({ url: REDIS_URL, prefix, waitReplicas: replicas + 1, waitTimeoutMs });
    try {
      await frontend.depth(); // connected
      const t0 = Date.now();
      const burst = Promise.allSettled(Array.from({ length: 40 }, () => frontend.enqueue(request())));
      // while the WAITs block their connection, the command connection still answers at once
      await new Promise((r) => setTimeout(r, 50));
      const d0 = Date.now();
      await frontend.depth();
      const depthMs = Date.now() - d0;
      const results = await burst;
      const elapsed = Date.now() - t0;
      expect(results.every((r) => r.status === 'rejected' && (r.reason as { code?: string }).code === 'BACKEND_UNAVAILABLE')).toBe(true);
      // one WAIT per request took 40 x 300 ms = 12 s here
      expect(elapsed).toBeLessThan(4 * waitTimeoutMs);
      expect(depthMs).toBeLessThan(waitTimeoutMs / 2);
      expect(await frontend.depth()).toBe(0); // every refused request was withdrawn
    } finally {
      await frontend.close();
    }
  });

  it('with a real replica, a burst of 200 requests is accepted with a few WAITs, not 200', async () => {
    const [pm, pr] = [await freePort(), await freePort()];
    const master = await startRedisServer(pm, ['--repl-diskless-sync-delay', '0']);
    procs.push(master);
    procs.push(await startRedisServer(pr, ['--replicaof', '127.0.0.1', String(pm)]));
    const url = `redis://127.0.0.1:${pm}`;
    const prefix = uniquePrefix();
    const frontend = new RedisQueue({ url, prefix, waitReplicas: 1, waitTimeoutMs: 2_000 });
    const worker = new RedisQueue({ url, prefix });
    const stats = new Redis(url);
    try {
      // the replica has synced (online) before the burst
      for (let i = 0; !/slave0:.*state=online/.test(String(await stats.info('replication'))); i++) {
        if (i > 100) throw new Error('the replica never synced');
        await new Promise((r) => setTimeout(r, 100));
      }
      const before = calls(String(await stats.info('commandstats')), 'wait');
      const results = await Promise.allSettled(Array.from({ length: 200 }, () => frontend.enqueue(request())));
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(200);
      const waits = (calls(String(await stats.info('commandstats')), 'wait')) - before;
      expect(waits).toBeGreaterThanOrEqual(1);
      expect(waits).toBeLessThanOrEqual(20);
      // all of them are on the queue, in order
      const pulled = await worker.pull('w-wait', 500, 0);
      expect(pulled.length).toBe(200);
    } finally {
      await frontend.close();
      await worker.close();
      stats.disconnect();
    }
  });
});
