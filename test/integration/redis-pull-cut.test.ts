/**
 * A pull whose connection is cut while it is in flight can have been given entries by Redis that
 * never reached the worker (a Sentinel failover cuts blocked XREADGROUPs this way). They are
 * pending in the worker's own name, so no other worker takes them, and before this test's fix the
 * worker itself took them back only once they had idled a second (reclaim's floor for "lost in
 * transit"): the requests missed their deadlines. Now the worker's next pull takes them back at
 * once, and never what it still holds or is acking; an ack the cut failed is sent again later.
 *
 * The lost reply is made exactly: another connection delivers an entry in the worker's name (as
 * Redis did for the cut pull), then the worker's own blocked pull is cut through a proxy.
 */
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { RedisQueue } from '../../src/queue/redis-queue.js';
import type { Delivery } from '../../src/queue/types.js';
import { CuttableProxy } from '../cuttable-proxy.js';
import { admin, deleteKeys, request as queued, uniquePrefix, workerBehindProxy } from '../queue-fixture.js';

const prefix = uniquePrefix();
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const closers: (() => Promise<void> | void)[] = [];
afterAll(async () => {
  for (const c of closers.reverse()) await c();
  for (const p of [prefix, `${prefix}-frozen`, `${prefix}-stuck`]) await deleteKeys(p);
  admin.disconnect();
});

const request = (id: string) => queued({ id, frontend: 'fe', minAccuracy: 0 });

describe('a worker pull cut in flight', () => {
  it('takes back at once what Redis delivered on the cut connection, and nothing it holds or is acking', async () => {
    const { proxy, frontend, worker } = await workerBehindProxy(prefix, closers);
    const raw = new Redis('redis://127.0.0.1:6379');
    closers.push(() => raw.disconnect());

    // held: pulled normally and still running
    await frontend.enqueue(request('fe:held'));
    const held = await worker.pull('w', 10, 1_000);
    expect(held.map((d) => d.request.id)).toEqual(['fe:held']);
    // acking: pulled, its ack sent but not yet done when the cut comes (the proxy holds it)
    await frontend.enqueue(request('fe:acked'));
    const acked = await worker.pull('w', 10, 1_000);
    expect(acked.map((d) => d.request.id)).toEqual(['fe:acked']);

    // lost in transit: delivered in the worker's name on a connection whose reply it never read
    await frontend.enqueue(request('fe:lost'));
    const delivered = (await raw.call('XREADGROUP', 'GROUP', 'workers', 'w', 'COUNT', 1, 'STREAMS', `${prefix}:requests`, '>')) as [string, [string, string[]][]][];
    expect(delivered[0]![1]).toHaveLength(1);

    // the worker's pull is blocked; the cut ends it
    const blocked = worker.pull('w', 10, 1_500).then(
      (d) => ({ ok: true as const, d }),
      (e: unknown) => ({ ok: false as const, e }),
    );
    await sleep(100);
    const cut = proxy.cut(150);
    const acking = worker.ack(acked).catch(() => undefined);
    const first = await blocked;
    await cut;
    await acking;
    const t0 = Date.now();
    // the loop pulls again (after a failure, once its backoff ends)
    const next: Delivery[] = [];
    while (Date.now() - t0 < 3_000) {
      try {
        next.push(...(await worker.pull('w', 10, 200)));
      } catch {
        await sleep(50);
        continue;
      }
      if (next.length > 0) break;
    }
    const tookMs = Date.now() - t0;
    if (first.ok) next.push(...first.d);
    expect(next.map((d) => d.request.id)).toEqual(['fe:lost']);
    // at once: well under the second an own entry must idle before reclaim counts it lost
    expect(tookMs).toBeLessThan(600);
    // and once: a further pull gives nothing more (held and acked entries stay where they are)
    expect(await worker.pull('w', 10, 100)).toEqual([]);
    expect(await worker.reclaim('w', 100, 10)).toEqual([]);
    await worker.ack([...held, ...next]);
    // the ack the cut failed is sent again once Redis is back: nothing stays pending
    const pending = async (): Promise<number> => Number(((await raw.call('XPENDING', `${prefix}:requests`, 'workers')) as unknown[])[0]);
    const until = Date.now() + 3_000;
    while ((await pending()) > 0 && Date.now() < until) await sleep(50);
    expect(await pending()).toBe(0);
  }, 20_000);

  it('ends a pull its server leaves unanswered (frozen, sockets open) and takes back what it was given', async () => {
    const p2 = `${prefix}-frozen`;
    const { proxy, frontend, worker } = await workerBehindProxy(p2, closers);
    const raw = new Redis('redis://127.0.0.1:6379');
    closers.push(() => raw.disconnect());
    expect(await worker.pull('w', 10, 50)).toEqual([]);

    const t0 = Date.now();
    const blocked = worker.pull('w', 10, 500).then(
      (d) => ({ ok: true as const, d, at: Date.now() - t0 }),
      (e: unknown) => ({ ok: false as const, e, at: Date.now() - t0 }),
    );
    // the connection Redis sees blocked in XREADGROUP is the pull's: freeze it for 5 s
    let blockedPort: number | undefined;
    while (blockedPort === undefined && Date.now() - t0 < 400) {
      const list = String(await raw.call('CLIENT', 'LIST'));
      // this worker's pull, not another test file's blocked in XREADGROUP on the same Redis
      blockedPort = list
        .split('\n')
        .filter((l) => /cmd=xreadgroup/.test(l) && /flags=\S*b/.test(l))
        .map((l) => Number(/addr=127\.0\.0\.1:(\d+)/.exec(l)?.[1]))
        .find((port) => proxy.proxies(port));
    }
    expect(blockedPort).toBeDefined();
    void proxy.freeze(blockedPort!, 5_000);
    // Redis gives the frozen pull a request; its reply cannot pass
    await frontend.enqueue(request('fe:frozen'));

    const first = await blocked;
    expect(first.ok).toBe(false); // ended, not left hanging for the 5 s freeze
    expect(first.at).toBeLessThan(500 + 1_000 + 500);
    const next = await worker.pull('w', 10, 200);
    expect(next.map((d) => d.request.id)).toEqual(['fe:frozen']);
    expect(Date.now() - t0).toBeLessThan(3_000);
    await worker.ack(next);
  }, 20_000);

  it('a handle whose server stops answering with its sockets open reconnects within seconds', async () => {
    const proxy = new CuttableProxy();
    const port = await proxy.listen();
    closers.push(() => proxy.close());
    const p3 = `${prefix}-stuck`;
    const lines: string[] = [];
    const handle = new RedisQueue({ url: `redis://127.0.0.1:${port}`, prefix: p3, log: (l) => lines.push(l) });
    closers.push(() => handle.close());
    await handle.enqueue(request('fe:before')); // connects, starts the upkeep timer
    expect(await handle.depth()).toBe(1);

    // every connection open now freezes for 6 s; new ones reach Redis
    const t0 = Date.now();
    void proxy.freezeAll(6_000);
    expect(await handle.depth()).toBe(1);
    const took = Date.now() - t0;
    console.log(`stuck handle: depth answered after ${took} ms`);
    expect(took).toBeLessThan(3_000); // the PING probe (1.5 s) and a reconnect, not the 6 s freeze
    expect(lines.join('\n')).toMatch(/left a PING unanswered/);

    // again, and for 2.5 s new connections are accepted but unanswered for 8 s (the frozen
    // server's listening socket): the reconnect that reaches one gives up on it after 1.5 s
    const t1 = Date.now();
    void proxy.freezeAll(8_000);
    proxy.holdNew(2_500, 8_000);
    expect(await handle.depth()).toBe(1);
    const took2 = Date.now() - t1;
    console.log(`stuck handle, held reconnect: depth answered after ${took2} ms`);
    expect(took2).toBeLessThan(5_500);
    expect(lines.join('\n')).toMatch(/did not answer a new connection's handshake/);
  }, 20_000);
});
