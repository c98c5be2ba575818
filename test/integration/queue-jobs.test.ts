/**
 * BullMQ job wrapper against the real Redis at 127.0.0.1:6379 (unique prefix, deleted after):
 * a job runs, reports progress events, completes; an expired one fails without running; the
 * Triton -> BullMQ priority mapping.
 */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { JobQueues, bullPriority, type JobProgress } from '../../src/queue/jobs.js';

const REDIS_URL = 'redis://127.0.0.1:6379';
const prefix = `test-jobs-${process.pid}-${randomBytes(4).toString('hex')}`;

describe('BullMQ jobs', () => {
  const jobs = new JobQueues({ redisUrl: REDIS_URL, prefix });
  afterAll(async () => {
    await jobs.close();
    const admin = new Redis(REDIS_URL, { protocol: 2 });
    const keys = await admin.keys(`${prefix}:*`);
    if (keys.length > 0) await admin.del(...keys);
    admin.disconnect();
  });

  it('a job runs, reports progress events and completes with its result', async () => {
    const progress: Array<[string, JobProgress]> = [];
    const stop = await jobs.onJobProgress('profile', (id, p) => progress.push([id, p]));
    const ran: string[] = [];
    const worker = jobs.runJobWorker<{ subnets: string[] }, { done: number }>('profile', async (job, report) => {
      ran.push(job.id);
      for (const [i, s] of job.data.subnets.entries()) await report({ subnet: s, fraction: (i + 1) / job.data.subnets.length });
      return { done: job.data.subnets.length };
    });
    await worker.ready;
    const id = await jobs.submitJob('profile', { subnets: ['a', 'b', 'c'] }, { priority: 1 });
    expect(await jobs.waitForJob('profile', id, 10_000)).toEqual({ done: 3 });
    expect(ran).toEqual([id]);
    for (let i = 0; i < 100 && progress.length < 3; i++) await new Promise((r) => setTimeout(r, 20));
    expect(progress).toEqual([
      [id, { subnet: 'a', fraction: 1 / 3 }],
      [id, { subnet: 'b', fraction: 2 / 3 }],
      [id, { subnet: 'c', fraction: 1 }],
    ]);
    stop();
    await worker.close();
  });

  it('a job whose deadline passed while waiting fails with DEADLINE_EXPIRED and never runs', async () => {
    let ran = 0;
    const id = await jobs.submitJob('best-effort-infer', { x: 1 }, { deadlineMs: Date.now() - 1 });
    const worker = jobs.runJobWorker('best-effort-infer', async () => ++ran);
    await expect(jobs.waitForJob('best-effort-infer', id, 10_000)).rejects.toThrow(/DEADLINE_EXPIRED/);
    expect(ran).toBe(0);
    await worker.close();
  });

  it("maps Triton priority (0 default, 1 highest) onto BullMQ's (0 = none, runs first)", () => {
    expect(bullPriority(1)).toBe(1);
    expect(bullPriority(5)).toBe(5);
    expect(bullPriority(0)).toBeGreaterThan(bullPriority(1_000_000));
    expect(() => bullPriority(-1)).toThrow(/priority/);
  });
});
