/**
 * Blocking pulls on the in-process queue share one timer (set for the earliest deadline): each pull
 * must still end at its own deadline, not at another's, and be woken at once by work.
 */
import { describe, expect, it } from 'vitest';
import { MemoryBroker } from '../../src/queue/memory-queue.js';
import { request } from '../queue-fixture.js';

const timed = async <T>(p: Promise<T>, t0: number): Promise<{ value: T; ms: number }> => {
  const value = await p;
  return { value, ms: Date.now() - t0 };
};

describe('MemoryQueue blocking pulls', () => {
  it('each pull ends at its own deadline, whatever the others wait for', async () => {
    const broker = new MemoryBroker();
    const [a, b, c] = [broker.connect(), broker.connect(), broker.connect()];
    const t0 = Date.now();
    const long = timed(a.pull('wa', 10, 400), t0);
    const short = timed(b.pull('wb', 10, 100), t0);
    const mid = timed(c.pull('wc', 10, 250), t0);
    const [l, s, m] = await Promise.all([long, short, mid]);
    expect([l.value, s.value, m.value]).toEqual([[], [], []]);
    expect(s.ms).toBeGreaterThanOrEqual(95);
    expect(s.ms).toBeLessThan(240);
    expect(m.ms).toBeGreaterThanOrEqual(245);
    expect(m.ms).toBeLessThan(390);
    expect(l.ms).toBeGreaterThanOrEqual(395);
    for (const q of [a, b, c]) await q.close();
  });

  it('work wakes a pull at once; the next pull, with a later deadline, is not ended by the earlier one', async () => {
    const broker = new MemoryBroker();
    const frontend = broker.connect();
    const worker = broker.connect();
    const t0 = Date.now();
    const first = timed(worker.pull('w', 10, 300), t0);
    await new Promise((r) => setTimeout(r, 20));
    const r = request();
    await frontend.enqueue(r);
    const got = await first;
    expect(got.value.map((d) => d.request.id)).toEqual([r.id]);
    expect(got.ms).toBeLessThan(200);
    // the shared timer is still set for the first pull's deadline (~300 ms): it must not end this one
    const t1 = Date.now();
    const second = await timed(worker.pull('w', 10, 600), t1);
    expect(second.value).toEqual([]);
    expect(second.ms).toBeGreaterThanOrEqual(595);
    await frontend.close();
    await worker.close();
  });

  it('closing a handle ends its blocked pulls with nothing, and leaves the others waiting', async () => {
    const broker = new MemoryBroker();
    const [a, b] = [broker.connect(), broker.connect()];
    const t0 = Date.now();
    const pa = timed(a.pull('wa', 10, 5_000), t0);
    const pb = timed(b.pull('wb', 10, 300), t0);
    await new Promise((r) => setTimeout(r, 30));
    await a.close();
    const ra = await pa;
    expect(ra.value).toEqual([]);
    expect(ra.ms).toBeLessThan(250);
    const rb = await pb;
    expect(rb.ms).toBeGreaterThanOrEqual(295);
    await b.close();
  });
});
