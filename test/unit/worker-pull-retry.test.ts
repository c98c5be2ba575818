/**
 * How long the worker loop waits between failed pulls. With the backend known down it backs off
 * 100 ms doubling to 5 s (a reconnect cuts the wait short); with the backend reachable (one
 * connection of several failing, as after a Sentinel failover) it never waits more than 250 ms,
 * since no reconnect event would come to cut a long wait short. Real timers, a real MemoryQueue
 * whose pull fails the first N times.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryBroker, MemoryQueue } from '../../src/queue/memory-queue.js';
import type { Delivery } from '../../src/queue/types.js';
import { buildPolicy } from '../../src/scheduler/registry.js';
import type { WorkerLoop } from '../../src/worker/worker-loop.js';
import { table } from '../sched-fixtures.js';
import { testLoop } from '../worker-fixture.js';

class FlakyPullQueue extends MemoryQueue {
  readonly pulls: number[] = [];
  private down = false;
  constructor(private failures: number) {
    super(new MemoryBroker());
  }
  override async pull(worker: string, max: number, blockMs: number): Promise<Delivery[]> {
    this.pulls.push(Date.now());
    if (this.failures-- > 0) throw new Error('pull failed');
    return super.pull(worker, max, Math.min(blockMs, 20));
  }
  backendDown(): boolean {
    return this.down;
  }
  goDown(): void {
    this.down = true;
  }
}

const loops: WorkerLoop[] = [];
afterEach(async () => {
  await Promise.all(loops.splice(0).map((l) => l.stop()));
});

function startLoop(queue: FlakyPullQueue): void {
  const t = table();
  const loop = testLoop({
    id: 'w-test',
    queue,
    executor: { run: () => Promise.reject(new Error('no batches in this test')) },
    policy: buildPolicy('slackfit', t),
    table: t,
    maxBatch: 8,
  });
  loops.push(loop);
  loop.start();
}

const until = async (cond: () => boolean, ms: number): Promise<void> => {
  const end = Date.now() + ms;
  while (!cond() && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
};

describe('worker pull retries', () => {
  it('with the backend reachable, seven failed pulls in a row are retried within 250 ms each', async () => {
    const q = new FlakyPullQueue(7);
    startLoop(q);
    await until(() => q.pulls.length >= 8, 6_000);
    expect(q.pulls.length).toBeGreaterThanOrEqual(8);
    const gaps = q.pulls.slice(1, 8).map((t, i) => t - (q.pulls[i] as number));
    // 100, 200, then 250 (capped) x 5: 1.55 s; 100 ms doubling uncapped would be 11.3 s
    expect(Math.max(...gaps)).toBeLessThan(600);
    expect((q.pulls[7] as number) - (q.pulls[0] as number)).toBeLessThan(3_000);
  });

  it('with the backend known down, the waits keep growing past 250 ms', async () => {
    const q = new FlakyPullQueue(5);
    startLoop(q);
    q.goDown();
    await until(() => q.pulls.length >= 5, 6_000);
    expect(q.pulls.length).toBeGreaterThanOrEqual(5);
    const gaps = q.pulls.slice(1, 5).map((t, i) => t - (q.pulls[i] as number));
    // 100, 200, 400, 800 ms
    expect(gaps[3]).toBeGreaterThanOrEqual(700);
  });
});
