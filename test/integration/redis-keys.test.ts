/** deleteKeysUnder against a real Redis: every key under the prefix, nothing else, across SCAN pages. */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { deleteKeysUnder } from '../../src/queue/redis-keys.js';

const redis = new Redis('redis://127.0.0.1:6379', { maxRetriesPerRequest: 1 });
afterAll(() => redis.disconnect());

describe('deleteKeysUnder', () => {
  it('deletes the prefix keys over several SCAN pages and leaves a look-alike prefix alone', async () => {
    const p = `test-keys-${process.pid}-${randomBytes(4).toString('hex')}`;
    const mine = Array.from({ length: 2_500 }, (_, i) => `${p}:k${i}`);
    const pipe = redis.pipeline();
    for (const k of mine) pipe.set(k, '1');
    pipe.set(`${p}x:other`, '1'); // shares the text but not the `${p}:` prefix
    await pipe.exec();
    expect(await deleteKeysUnder(redis, p)).toBe(2_500);
    expect(await redis.exists(...mine.slice(0, 100))).toBe(0);
    expect(await redis.get(`${p}x:other`)).toBe('1');
    expect(await deleteKeysUnder(redis, `${p}x`)).toBe(1);
  });
});
