/**
 * Deleting every key a deployment keeps under its queue prefix (streams, reply streams, liveness
 * keys): what a test, a bench or an operator retiring a `queuePrefix` does afterwards. SCAN in
 * pages, never KEYS, so a large Redis is not blocked.
 */
import type { Redis } from 'ioredis';

/** Deletes the keys matching `${prefix}:*`; returns how many were deleted. */
export async function deleteKeysUnder(redis: Redis, prefix: string): Promise<number> {
  let cursor = '0';
  let deleted = 0;
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
    if (keys.length > 0) deleted += await redis.del(...keys);
    cursor = next;
  } while (cursor !== '0');
  return deleted;
}
