/**
 * A reply to a frontend whose reply stream is missing, against a real Redis. A Redis restarted
 * without its data has lost every reply stream; until the frontend's upkeep makes its own again, a
 * worker's reply used to be dropped by XADD NOMKSTREAM and taken for sent: the request was acked
 * and its call waited out deadline + grace ("no worker answered", seen once in a fresh-clone CI run
 * of lifecycle-faults.test.ts). Now the reply is written with the stream made (ssReplyCreate), and
 * the frontend, which keeps reading, gets it; a stream made that way for a frontend that is gone
 * expires.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { RedisQueue } from '../../src/queue/redis-queue.js';
import type { InferenceReply } from '../../src/queue/types.js';
import { admin, deleteKeys, okReply, REDIS_URL, uniquePrefix, waitFor } from '../queue-fixture.js';

const prefix = uniquePrefix();
const made: RedisQueue[] = [];
afterAll(async () => {
  await Promise.all(made.map((q) => q.close()));
  await deleteKeys(prefix);
});
const handle = (): RedisQueue => {
  const q = new RedisQueue({ url: REDIS_URL, prefix, replyTransport: 'stream', workerTtlMs: 500 });
  made.push(q);
  return q;
};

describe('a reply whose reply stream is gone', () => {
  it('reaches the frontend that still reads it, and a gone frontend leaves only a stream that expires', async () => {
    const frontend = handle();
    const worker = handle();
    const got: InferenceReply[] = [];
    await frontend.subscribeReplies('fe', (r) => got.push(r));
    const key = `${prefix}:replies:fe`;
    expect(await admin.exists(key)).toBe(1);

    // what a restart without persistence does to it
    expect(await admin.del(key)).toBe(1);
    const logits = new Uint8Array(40).map((_, i) => i);
    await worker.reply(okReply('fe:1', logits), 'fe');
    await waitFor(() => got.length === 1, 5_000);
    expect(got[0]).toMatchObject({ id: 'fe:1', ok: true, final: true });
    expect([...((got[0] as Extract<InferenceReply, { ok: true }>).logits)]).toEqual([...logits]);
    const ttl = await admin.pttl(key);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(30_000);

    // the plain path again once the stream exists: the next reply arrives too, nothing repeated
    await worker.reply(okReply('fe:2', logits), 'fe');
    await waitFor(() => got.length === 2, 5_000);
    expect(got.map((r) => r.id)).toEqual(['fe:1', 'fe:2']);

    // a frontend nobody runs: its stream is made with a TTL, so it does not stay
    await worker.reply(okReply('gone:1', logits), 'gone');
    const goneTtl = await admin.pttl(`${prefix}:replies:gone`);
    expect(goneTtl).toBeGreaterThan(0);
    expect(goneTtl).toBeLessThanOrEqual(30_000);
  });
});
