/**
 * The request-queue contract, one suite body run against every implementation: in-process, and
 * Redis Streams (both reply transports) on the real Redis at 127.0.0.1:6379, each test under a
 * unique key prefix that is deleted afterwards (test/queue-fixture.ts). What only Redis can show is
 * in redis-queue-only.test.ts.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { InferenceReply } from '../../src/queue/types.js';
import { admin, ids, memory, okReply, redis, request, waitFor, type World } from '../queue-fixture.js';

afterAll(() => admin.disconnect());

describe.each([memory, redis('stream'), redis('pubsub')])('request queue contract: $name', (impl) => {
  let world: World | undefined;
  const setup = (opts?: { maxPending?: number }): World => (world = impl.world(opts));
  afterEach(async () => {
    await world?.cleanup();
    world = undefined;
  });

  it('enqueue -> pull -> reply reaches the subscribed frontend, with every field intact', async () => {
    const w = setup();
    const frontend = w.make();
    const worker = w.make();
    const replies: InferenceReply[] = [];
    const stop = await frontend.subscribeReplies('f1', (r) => replies.push(r));
    const r = request({ stream: true, downgraded: true, priority: 2 });
    await frontend.enqueue(r);
    const ds = await worker.pull('w1', 10, 1_000);
    expect(ids(ds)).toEqual([r.id]);
    expect({ ...ds[0]!.request, data: null }).toEqual({ ...r, data: null });
    const logits = new Uint8Array(randomBytes(40));
    await worker.reply(okReply(r.id, logits, false), r.frontend);
    await worker.reply(okReply(r.id, logits), r.frontend);
    await worker.ack(ds);
    await worker.reply({ id: 'f1:other', ok: false, code: 'DEADLINE_EXPIRED', message: 'Request timeout expired' }, 'f1');
    await worker.reply(okReply('f2:1', logits), 'f2'); // nobody listens: dropped, no error
    await waitFor(() => replies.length === 3);
    expect(replies[0]).toEqual(okReply(r.id, logits, false));
    expect(replies[1]).toEqual(okReply(r.id, logits));
    expect(Buffer.from(replies[1]!.ok ? replies[1]!.logits : []).equals(Buffer.from(logits))).toBe(true);
    expect(replies[2]).toEqual({ id: 'f1:other', ok: false, code: 'DEADLINE_EXPIRED', message: 'Request timeout expired' });
    await stop();
    await worker.reply(okReply(r.id, logits), 'f1');
    await new Promise((res) => setTimeout(res, 50));
    expect(replies).toHaveLength(3);
    expect(await frontend.depth()).toBe(0);
  });

  it('replies issued together (a batch) arrive in order, each intact, to the right frontend', async () => {
    const w = setup();
    const fe1 = w.make();
    const fe2 = w.make();
    const worker = w.make();
    const got1: InferenceReply[] = [];
    const got2: InferenceReply[] = [];
    await fe1.subscribeReplies('f1', (r) => got1.push(r));
    await fe2.subscribeReplies('f2', (r) => got2.push(r));
    const sent1: InferenceReply[] = [];
    const sent2: InferenceReply[] = [];
    for (let i = 0; i < 40; i++) {
      const r: InferenceReply =
        i % 7 === 3
          ? { id: `f1:${i}`, ok: false, code: 'CANCELLED', message: 'cancelled' }
          : okReply(`f1:${i}`, new Uint8Array(randomBytes(4 * (1 + (i % 5)) * 10)), i % 2 === 0);
      (i % 3 === 0 ? sent2 : sent1).push(r);
    }
    await Promise.all([...sent1.map((r) => worker.reply(r, 'f1')), ...sent2.map((r) => worker.reply(r, 'f2'))]);
    await waitFor(() => got1.length === sent1.length && got2.length === sent2.length);
    expect(got1).toEqual(sent1);
    expect(got2).toEqual(sent2);
  });

  it('pulls in FIFO order, up to max at a time', async () => {
    const w = setup();
    const frontend = w.make();
    const worker = w.make();
    const rs = Array.from({ length: 20 }, () => request());
    for (const r of rs) await frontend.enqueue(r);
    const got: string[] = [];
    for (;;) {
      const ds = await worker.pull('w1', 7, 0);
      if (ds.length === 0) break;
      expect(ds.length).toBeLessThanOrEqual(7);
      got.push(...ids(ds));
      await worker.ack(ds);
    }
    expect(got).toEqual(rs.map((r) => r.id));
  });

  it('a pull blocks until work arrives, or returns [] after blockMs', async () => {
    const w = setup();
    const frontend = w.make();
    const worker = w.make();
    let t = Date.now();
    expect(await worker.pull('w1', 4, 150)).toEqual([]);
    expect(Date.now() - t).toBeGreaterThanOrEqual(140);
    t = Date.now();
    const pending = worker.pull('w1', 4, 3_000);
    await new Promise((res) => setTimeout(res, 100));
    const r = request();
    await frontend.enqueue(r);
    const ds = await pending;
    expect(ids(ds)).toEqual([r.id]);
    expect(Date.now() - t).toBeGreaterThanOrEqual(90);
    expect(Date.now() - t).toBeLessThan(1_500);
  });

  it('rejects with QUEUE_FULL once maxPending requests wait; pulled ones do not count', async () => {
    const w = setup({ maxPending: 5 });
    const frontend = w.make();
    const worker = w.make();
    for (let i = 0; i < 5; i++) await frontend.enqueue(request());
    await expect(frontend.enqueue(request())).rejects.toMatchObject({ code: 'QUEUE_FULL', message: 'Exceeds maximum queue size' });
    expect(await frontend.depth()).toBe(5);
    const ds = await worker.pull('w1', 2, 0);
    expect(ds).toHaveLength(2);
    expect(await frontend.depth()).toBe(3);
    await frontend.enqueue(request());
    await frontend.enqueue(request());
    await expect(frontend.enqueue(request())).rejects.toMatchObject({ code: 'QUEUE_FULL' });
    await worker.ack(ds);
    expect(await frontend.depth()).toBe(5);
  });

  it('rejects malformed requests with INPUT_INVALID', async () => {
    const w = setup();
    const frontend = w.make();
    await expect(frontend.enqueue({ ...request(), data: new Uint8Array(10) })).rejects.toMatchObject({ code: 'INPUT_INVALID' });
    await expect(frontend.enqueue({ ...request(), shape: [0, 784] })).rejects.toMatchObject({ code: 'INPUT_INVALID' });
    expect(await frontend.depth()).toBe(0);
  });

  it('cancel before a pull removes the request; after a pull it fires onCancel on the holder', async () => {
    const w = setup();
    const frontend = w.make();
    const worker = w.make();
    const heard: string[] = [];
    worker.onCancel((id) => heard.push(id));
    const [a, b, c] = [request(), request(), request()];
    for (const r of [a, b, c]) await frontend.enqueue(r);
    expect(await frontend.cancel(b.id)).toBe(true);
    expect(await frontend.depth()).toBe(2);
    const ds = await worker.pull('w1', 10, 0);
    expect(ids(ds)).toEqual([a.id, c.id]); // b is never delivered
    expect(await frontend.cancel(a.id)).toBe(false); // already pulled: the holder is told
    await waitFor(() => heard.length === 1);
    expect(heard).toEqual([a.id]);
    // The holder hands everything back; the cancelled one is dropped, not re-run.
    await worker.release(ds);
    const again = await worker.pull('w1', 10, 200);
    expect(ids(again)).toEqual([c.id]);
    await worker.ack(again);
    expect(await frontend.depth()).toBe(0);
  });

  it('two workers pulling concurrently never receive the same request', async () => {
    const w = setup();
    const frontend = w.make();
    const workers = [w.make(), w.make()];
    const n = 300;
    const got: string[][] = [[], []];
    let done = 0;
    const loops = workers.map(async (q, i) => {
      while (done < n) {
        const ds = await q.pull(`w${i}`, 7, 100);
        got[i]!.push(...ids(ds));
        done += ds.length;
        await q.ack(ds);
      }
    });
    const rs = Array.from({ length: n }, () => request({}, 1));
    await Promise.all(rs.map((r) => frontend.enqueue(r)));
    await Promise.all(loops);
    const all = [...got[0]!, ...got[1]!];
    expect(all).toHaveLength(n);
    expect(new Set(all).size).toBe(n);
    expect(new Set(all)).toEqual(new Set(rs.map((r) => r.id)));
  });

  it('a worker that dies holding requests loses nothing: another reclaims them after minIdleMs', async () => {
    const w = setup();
    const frontend = w.make();
    const doomed = w.make();
    const live = w.make();
    const rescuer = w.make();
    const rs = Array.from({ length: 8 }, () => request());
    for (const r of rs) await frontend.enqueue(r);
    const held = await doomed.pull('doomed', 5, 0);
    const kept = await live.pull('live', 3, 0);
    expect(held).toHaveLength(5);
    expect(kept).toHaveLength(3);
    await doomed.ack(held.slice(0, 1)); // finished one before dying
    await doomed.close(); // dies: never acks the other 4
    expect(await rescuer.reclaim('rescuer', 300, 100)).toEqual([]); // not idle long enough yet
    await new Promise((res) => setTimeout(res, 350));
    const back = await rescuer.reclaim('rescuer', 300, 100);
    expect(ids(back).sort()).toEqual(ids(held.slice(1)).sort()); // the live worker's 3 stay
    expect(back.map((d) => Buffer.from(d.request.data))).toEqual(held.slice(1).map((d) => Buffer.from(d.request.data)));
    expect(await rescuer.reclaim('rescuer', 0, 100)).toEqual([]); // taken once only
    await rescuer.ack(back);
    await live.ack(kept);
    expect(await frontend.depth()).toBe(0);
  });

  it('release hands un-run requests back to another worker', async () => {
    const w = setup();
    const frontend = w.make();
    const leaving = w.make();
    const other = w.make();
    const rs = Array.from({ length: 3 }, () => request());
    for (const r of rs) await frontend.enqueue(r);
    const ds = await leaving.pull('leaving', 10, 0);
    expect(await frontend.depth()).toBe(0);
    const waiting = other.pull('other', 10, 2_000); // blocked: nothing pending
    await leaving.release(ds);
    const got = await waiting;
    expect(ids(got)).toEqual(rs.map((r) => r.id));
    expect(got.map((d) => Buffer.from(d.request.data))).toEqual(rs.map((r) => Buffer.from(r.data)));
    await leaving.close();
    await other.ack(got);
    expect(await frontend.depth()).toBe(0);
  });

  it('tensor bytes round-trip exactly (random FP32 bytes up to batch 64) and arrive 4-byte aligned', async () => {
    const w = setup();
    const frontend = w.make();
    const worker = w.make();
    const rs = [1, 7, 64].map((b) => request({}, b));
    for (const r of rs) await frontend.enqueue(r);
    const ds = await worker.pull('w1', 10, 1_000);
    expect(ids(ds)).toEqual(rs.map((r) => r.id));
    for (const [i, d] of ds.entries()) {
      expect(d.request.shape).toEqual(rs[i]!.shape);
      expect(Buffer.from(d.request.data).equals(Buffer.from(rs[i]!.data))).toBe(true);
      const f = new Float32Array(d.request.data.buffer, d.request.data.byteOffset, d.request.data.byteLength / 4);
      expect(f.length).toBe(rs[i]!.shape[0]! * 784);
    }
    await worker.ack(ds);
  });

  it('depth counts requests admitted and not yet pulled', async () => {
    const w = setup();
    const frontend = w.make();
    const worker = w.make();
    expect(await frontend.depth()).toBe(0);
    const rs = [request(), request(), request()];
    for (const r of rs) await frontend.enqueue(r);
    expect(await frontend.depth()).toBe(3);
    const ds = await worker.pull('w1', 2, 0);
    expect(await frontend.depth()).toBe(1);
    await worker.ack(ds);
    expect(await frontend.depth()).toBe(1);
    await frontend.cancel(rs[2]!.id);
    expect(await frontend.depth()).toBe(0);
  });

  it('is ready while open; close resolves blocked pulls with [] and is idempotent', async () => {
    const w = setup();
    const q = w.make();
    expect(await q.ready()).toBe(true);
    const blocked = q.pull('w1', 1, 5_000);
    await new Promise((res) => setTimeout(res, 50));
    const t = Date.now();
    await q.close();
    expect(await blocked).toEqual([]);
    expect(Date.now() - t).toBeLessThan(1_000);
    await q.close();
    expect(await q.ready()).toBe(false);
    expect(await q.pull('w1', 1, 10)).toEqual([]);
  });
});
