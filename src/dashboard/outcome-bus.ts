/**
 * Outcomes across processes: each frontend publishes its finished calls to Redis (one PUBLISH of
 * a JSON array every 250 ms, so the cost does not grow with the request rate's syscalls), and
 * `slackserve dashboard --redis URL` subscribes to all of them.
 */
import { connectRedis, type RedisTarget } from '../queue/redis-connect.js';
import type { OutcomeEvent } from '../metrics/outcome-event.js';

/** What publishes outcomes (the frontend), seen structurally: the dashboard does not import the server. */
export interface OutcomeSource {
  onOutcome(listener: (e: OutcomeEvent) => void): () => void;
}

export const outcomeChannel = (prefix: string): string => `${prefix}:outcomes`;

export function publishOutcomes(target: RedisTarget | string, prefix: string, frontend: OutcomeSource): { close(): Promise<void> } {
  const redis = connectRedis(target); // errors ignored: the dashboard is best effort; serving must not care
  let pending: OutcomeEvent[] = [];
  const off = frontend.onOutcome((e) => {
    if (pending.length < 100_000) pending.push(e);
  });
  const timer = setInterval(() => {
    if (pending.length === 0) return;
    const batch = pending;
    pending = [];
    redis.publish(outcomeChannel(prefix), JSON.stringify(batch)).catch(() => undefined);
  }, 250);
  timer.unref();
  return {
    close: async () => {
      off();
      clearInterval(timer);
      redis.disconnect();
    },
  };
}

export async function subscribeOutcomes(target: RedisTarget | string, prefix: string, listener: (e: OutcomeEvent) => void): Promise<{ close(): Promise<void> }> {
  const redis = connectRedis(target);
  await redis.subscribe(outcomeChannel(prefix));
  redis.on('message', (_ch: string, msg: string) => {
    try {
      for (const e of JSON.parse(msg) as OutcomeEvent[]) listener(e);
    } catch {
      // a malformed message from another version is skipped
    }
  });
  return { close: async () => redis.disconnect() };
}
