/**
 * A connection the queue did not close never stays closed. ioredis ends a connection for good
 * when its connector is disconnected while a connect is in flight (the connect rejects
 * "Connection is closed." and nothing retries): with Sentinels its failover detector does exactly
 * that on +switch-master, and under load it ended every connection of a frontend and a worker
 * (redis-sentinel.test.ts). Real Redis on 127.0.0.1:6379; the race is made by doing what the
 * failover detector does, `connector.disconnect()`, while the connection is connecting.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { connectRedis } from '../../src/queue/redis-connect.js';

const URL = 'redis://127.0.0.1:6379';
const open: Redis[] = [];
afterEach(() => {
  for (const c of open.splice(0)) c.disconnect();
});

/** Connects, and disconnects the connector before the connect completes. */
async function interruptedConnect(): Promise<Redis> {
  const c = connectRedis(URL, { lazyConnect: true });
  open.push(c);
  const ended = new Promise<void>((res) => c.once('end', () => res()));
  const connecting = c.connect().then(
    () => 'connected',
    (e: Error) => e.message,
  );
  (c as unknown as { connector: { disconnect(): void } }).connector.disconnect();
  expect(await connecting).toMatch(/Connection is closed/);
  await ended;
  return c;
}

const until = async (cond: () => boolean, ms: number): Promise<void> => {
  const end = Date.now() + ms;
  while (!cond() && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
};

describe('redis connections', () => {
  it('connect again after ioredis ends them without being asked (a connect interrupted by its connector)', async () => {
    const c = await interruptedConnect();
    await until(() => c.status === 'ready', 3_000);
    expect(c.status).toBe('ready');
    expect(await c.ping()).toBe('PONG');
  });

  it('stay closed when the queue closes them', async () => {
    const c = connectRedis(URL);
    open.push(c);
    expect(await c.ping()).toBe('PONG');
    const ended = new Promise<void>((res) => c.once('end', () => res()));
    c.disconnect();
    await ended;
    await new Promise((r) => setTimeout(r, 400));
    expect(c.status).toBe('end');
    const q = connectRedis(URL);
    open.push(q);
    expect(await q.ping()).toBe('PONG');
    await q.quit();
    await new Promise((r) => setTimeout(r, 400));
    expect(q.status).toBe('end');
  });
});
