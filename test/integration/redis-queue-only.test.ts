/**
 * What only the Redis queue can show: readiness against a closed port, Redis WAIT for replicas,
 * entries whose pull reply a worker never saw, and a worker process killed with SIGKILL whose
 * requests another worker reclaims (helpers: test/queue-fixture.ts).
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { SlackserveError } from '../../src/errors.js';
import { RedisQueue } from '../../src/queue/redis-queue.js';
import { admin, deleteKeys, ids, REDIS_URL, request, uniquePrefix } from '../queue-fixture.js';

afterAll(() => admin.disconnect());

describe('redis queue only', () => {
  const prefixes: string[] = [];
  afterAll(async () => {
    for (const p of prefixes) await deleteKeys(p);
  });

  it('ready() is false within ~1 s, without throwing, when Redis is not there; close() returns', async () => {
    const q = new RedisQueue({ url: 'redis://127.0.0.1:1', prefix: uniquePrefix(), readyTimeoutMs: 800 });
    const t = Date.now();
    expect(await q.ready()).toBe(false);
    expect(Date.now() - t).toBeLessThan(1_200);
    await expect(q.enqueue(request())).rejects.toMatchObject({ code: 'BACKEND_UNAVAILABLE' });
    await q.close();
  });

  it('refuses and withdraws a request fewer replicas hold than redisWaitReplicas asks (Redis WAIT)', async () => {
    const prefix = uniquePrefix();
    prefixes.push(prefix);
    const info = String(await admin.info('replication'));
    const replicas = Number(/connected_slaves:(\d+)/.exec(info)?.[1] ?? 0);
    // one more replica than this Redis has: the WAIT times out short
    const frontend = new RedisQueue({ url: REDIS_URL, prefix, waitReplicas: replicas + 1, waitTimeoutMs: 50 });
    const worker = new RedisQueue({ url: REDIS_URL, prefix });
    try {
      expect(await worker.pull('w-wait', 10, 0)).toEqual([]);
      const t0 = Date.now();
      const err = await frontend.enqueue(request()).then(
        () => null,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(SlackserveError);
      expect((err as SlackserveError).code).toBe('BACKEND_UNAVAILABLE');
      expect((err as SlackserveError).message).toContain(`reached ${replicas} of ${replicas + 1} replica(s) within 50 ms`);
      expect(Date.now() - t0).toBeGreaterThanOrEqual(45);
      // withdrawn: no worker ever gets it, nothing is outstanding
      expect(await worker.pull('w-wait', 10, 100)).toEqual([]);
      expect(await frontend.depth()).toBe(0);
    } finally {
      await frontend.close();
      await worker.close();
    }
  });

  it('a live worker takes back entries delivered to it whose pull reply it never saw', async () => {
    const prefix = uniquePrefix();
    prefixes.push(prefix);
    const frontend = new RedisQueue({ url: REDIS_URL, prefix });
    const worker = new RedisQueue({ url: REDIS_URL, prefix });
    try {
      expect(await worker.pull('w-lost', 10, 0)).toEqual([]); // registers, creates the group
      const [a, b] = [request(), request()];
      await frontend.enqueue(a);
      await frontend.enqueue(b);
      const held = await worker.pull('w-lost', 1, 0); // a: held by the handle
      // b is delivered to the same consumer, but the reply is "lost" (read by another client).
      await admin.call('XREADGROUP', 'GROUP', 'workers', 'w-lost', 'COUNT', 1, 'STREAMS', `${prefix}:requests`, '>');
      expect(await worker.reclaim('w-lost', 100, 10)).toEqual([]); // not idle long enough (>= 1 s)
      await new Promise((res) => setTimeout(res, 1_100));
      const back = await worker.reclaim('w-lost', 100, 10);
      expect(ids(back)).toEqual([b.id]); // b only: a is held here
      await worker.ack([...held, ...back]);
      expect(await frontend.depth()).toBe(0);
      expect(await admin.xlen(`${prefix}:requests`)).toBe(0);
    } finally {
      await frontend.close();
      await worker.close();
    }
  });

  it('a worker process killed with SIGKILL loses no accepted request: the rest are reclaimed', async () => {
    const fixture = 'dist/queue/index.js';
    // `make test` builds first; run `npx tsc -p tsconfig.build.json` before running this file alone.
    expect(existsSync(fixture), `${fixture} missing: build first`).toBe(true);
    const prefix = uniquePrefix();
    prefixes.push(prefix);
    const frontend = new RedisQueue({ url: REDIS_URL, prefix });
    const rescuer = new RedisQueue({ url: REDIS_URL, prefix });
    try {
      const rs = Array.from({ length: 100 }, () => request());
      await Promise.all(rs.map((r) => frontend.enqueue(r)));
      const child = spawn(process.execPath, ['test/fixtures/queue-worker.mjs', REDIS_URL, prefix, 'child-worker', '40', '10'], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      const [line] = (await once(child.stdout, 'data')) as [Buffer];
      const report = JSON.parse(line.toString()) as { pulled: string[]; acked: string[] };
      expect(report.pulled).toHaveLength(40);
      expect(report.acked).toHaveLength(10);
      const exited = once(child, 'exit');
      child.kill('SIGKILL');
      const [, signal] = (await exited) as [number | null, string | null];
      expect(signal).toBe('SIGKILL');

      // The child's heartbeat (300 ms) lapses; then its 30 unacked requests are ours.
      const reclaimed: string[] = [];
      const end = Date.now() + 5_000;
      while (reclaimed.length < 30 && Date.now() < end) {
        const ds = await rescuer.reclaim('rescuer', 100, 1_000);
        reclaimed.push(...ids(ds));
        await rescuer.ack(ds);
        if (ds.length === 0) await new Promise((res) => setTimeout(res, 50));
      }
      const unacked = report.pulled.filter((id) => !report.acked.includes(id));
      expect(reclaimed.sort()).toEqual([...unacked].sort());
      const rest: string[] = [];
      for (;;) {
        const ds = await rescuer.pull('rescuer', 256, 0);
        if (ds.length === 0) break;
        rest.push(...ids(ds));
        await rescuer.ack(ds);
      }
      // Every accepted request was delivered: acked by the child, reclaimed, or never pulled.
      const delivered = [...report.acked, ...reclaimed, ...rest];
      expect(delivered).toHaveLength(rs.length);
      expect(new Set(delivered)).toEqual(new Set(rs.map((r) => r.id)));
      expect(await frontend.depth()).toBe(0);
    } finally {
      await frontend.close();
      await rescuer.close();
    }
  });
});
