/**
 * A worker's answer must not be lost with its Redis connection. The worker's handle reaches the
 * real Redis through a proxy that the test cuts (every connection destroyed, new ones refused for
 * 500 ms) just as a reply is being sent:
 * - reply() rides out the cut: it resolves once Redis is back and the frontend gets the answer
 *   (before, it rejected, the worker acked the request anyway, and the call waited out its
 *   deadline + grace: one such request per Sentinel failover test run);
 * - a request whose reply could not be sent is unheld, not acked: it stays pending in the worker's
 *   name and reclaim hands it back (lost in transit), so it is answered later or failed clearly.
 */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import type { InferenceReply, QueuedInference } from '../../src/queue/types.js';
import { workerBehindProxy } from '../queue-fixture.js';

const prefix = `test-reply-cut-${process.pid}-${randomBytes(4).toString('hex')}`;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const closers: (() => Promise<void> | void)[] = [];
afterAll(async () => {
  for (const c of closers.reverse()) await c();
  const admin = new Redis('redis://127.0.0.1:6379');
  const keys = await admin.keys(`${prefix}:*`);
  if (keys.length > 0) await admin.del(...keys);
  admin.disconnect();
});

function request(id: string): QueuedInference {
  return {
    id,
    frontend: 'fe',
    model: 'fmnist',
    arrivalMs: Date.now(),
    deadlineMs: Date.now() + 60_000,
    minAccuracy: 0,
    priority: 0,
    sheddable: true,
    sloClass: 'interactive',
    downgraded: false,
    shape: [1, 1, 28, 28],
    data: new Uint8Array(randomBytes(784 * 4)),
  };
}

const answer = (id: string): InferenceReply => ({
  id,
  ok: true,
  final: true,
  subnet: 's',
  exit: null,
  logits: new Uint8Array(40),
  classes: [3],
  queueUs: 1,
  computeUs: 1,
  deadlineMet: true,
  downgraded: false,
  worker: 'w',
});

describe('a Redis connection cut while a worker replies', () => {
  it('the reply is sent once Redis is back; an unsent one is unheld and reclaimed, not acked', async () => {
    const { proxy, frontend, worker } = await workerBehindProxy(prefix, closers);
    const got: string[] = [];
    await frontend.subscribeReplies('fe', (r) => got.push(r.id));
    await frontend.enqueue(request('fe:1'));
    await frontend.enqueue(request('fe:2'));
    const pulled = await worker.pull('w', 2, 1_000);
    expect(pulled.map((d) => d.request.id)).toEqual(['fe:1', 'fe:2']);

    // 1. the cut starts, then the reply is sent: it waits for Redis and goes out
    const cut = proxy.cut(500);
    await sleep(20);
    const t0 = Date.now();
    await worker.reply(answer('fe:1'), 'fe');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(300); // it did wait for the cut to end
    await cut;
    const end = Date.now() + 3_000;
    while (!got.includes('fe:1') && Date.now() < end) await sleep(20);
    expect(got).toContain('fe:1');
    await worker.ack([pulled[0]!]);

    // 2. held (running, say), a live worker's own request is never reclaimed...
    await sleep(1_100); // past the 1 s a pending entry must idle before it counts as lost in transit
    expect(await worker.reclaim('w', 100, 10)).toEqual([]);
    // ...unheld (its reply could not be sent), it comes back to the worker through reclaim
    worker.unhold([pulled[1]!]);
    const back = await worker.reclaim('w', 100, 10);
    expect(back.map((d) => d.request.id)).toEqual(['fe:2']);
    expect(got).not.toContain('fe:2');
  }, 20_000);
});
