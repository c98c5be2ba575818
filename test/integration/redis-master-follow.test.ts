/**
 * With Sentinels, the connections of one queue handle follow the master the latest reconnect
 * reached. A connection whose failover detector missed `+switch-master` stays on a demoted master
 * that is still alive; here the sentinel is made to name another master without any switch
 * message (SENTINEL REMOVE + MONITOR), which is what a missed message looks like to a client.
 * Real redis-server x 2, a real redis-sentinel, real ioredis connections in sentinel mode.
 */
import type { Socket } from 'node:net';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { connectRedis } from '../../src/queue/redis-connect.js';
import { MasterFollower } from '../../src/queue/redis-master-follow.js';
import { freePort, hasCommand, type Proc, startRedisServer, startSentinel } from '../cluster-procs.js';

const HAS_SENTINEL = hasCommand('redis-sentinel') && hasCommand('redis-server');
const NAME = 'followq';
const procs: Proc[] = [];
const cleanups: (() => void)[] = [];
afterAll(async () => {
  for (const c of cleanups.splice(0)) c();
  for (const p of procs.reverse()) await p.kill();
});

const portOf = (c: Redis): number | undefined => (c as unknown as { stream?: Socket }).stream?.remotePort;
const until = async (cond: () => boolean, ms: number): Promise<boolean> => {
  const end = Date.now() + ms;
  while (!cond() && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
  return cond();
};

describe.skipIf(!HAS_SENTINEL)('connections follow the newest master', () => {
  it('a connection left on the old master reconnects once another reaches the new one', async () => {
    const [m1, m2, s] = (await Promise.all([freePort(), freePort(), freePort()])) as [number, number, number];
    procs.push(await startRedisServer(m1, ['--bind', '127.0.0.1']), await startRedisServer(m2, ['--bind', '127.0.0.1']));
    const sentinel = await startSentinel({ port: s, name: NAME, masterPort: m1 });
    procs.push(sentinel);
    cleanups.push(sentinel.cleanup);
    const target = { url: 'redis://unused', sentinels: [{ host: '127.0.0.1', port: s }], sentinelName: NAME };
    const lines: string[] = [];
    const follower = new MasterFollower((l) => lines.push(l));
    const a = connectRedis(target);
    const b = connectRedis(target);
    const plain = connectRedis(target); // not followed: shows what happens without the follower
    cleanups.push(() => [a, b, plain].forEach((c) => c.disconnect()));
    follower.add(a);
    follower.add(b);
    expect(await until(() => [a, b, plain].every((c) => c.status === 'ready'), 10_000)).toBe(true);
    expect([portOf(a), portOf(b), portOf(plain)]).toEqual([m1, m1, m1]);

    // the sentinel now names m2, and publishes no +switch-master
    const admin = new Redis({ port: s, host: '127.0.0.1', lazyConnect: true });
    cleanups.push(() => admin.disconnect());
    await admin.call('SENTINEL', 'REMOVE', NAME);
    await admin.call('SENTINEL', 'MONITOR', NAME, '127.0.0.1', String(m2), '1');
    expect(await admin.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', NAME)).toEqual(['127.0.0.1', String(m2)]);

    // one connection reconnects (as after its socket closed): it reaches m2, and b follows
    a.disconnect(true);
    expect(await until(() => portOf(a) === m2 && a.status === 'ready', 10_000)).toBe(true);
    expect(await until(() => portOf(b) === m2 && b.status === 'ready', 10_000)).toBe(true);
    expect(lines.join('\n')).toMatch(new RegExp(`redis master is now 127\\.0\\.0\\.1:${m2}: 1 connection\\(s\\) still on 127\\.0\\.0\\.1:${m1}`));
    // what b writes now lands on m2
    await b.set('follow-test', 'x');
    const direct = new Redis({ port: m2, host: '127.0.0.1' });
    cleanups.push(() => direct.disconnect());
    expect(await direct.get('follow-test')).toBe('x');
    // the connection nobody followed is still on the old master, writing where no one reads
    expect(portOf(plain)).toBe(m1);
  });
});
