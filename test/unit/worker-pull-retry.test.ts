/**
 * How long the worker loop waits between failed pulls. With the backend known down it backs off
 * 100 ms doubling to 5 s (a reconnect cuts the wait short); with the backend reachable (one
 * connection of several failing, as after a Sentinel failover) it never waits more than 250 ms,
 * since no reconnect event would come to cut a long wait short. Real timers, a real MemoryQueue
 * whose pull fails the first N times.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryBroker, MemoryQueue } from '../../src/queue/memory-queue.js';
import type { Delivery, RequestQueue } from '../../src/queue/types.js';
import { buildPolicy } from '../../src/scheduler/registry.js';
import type { WorkerLoop, WorkerLoopOptions } from '../../src/worker/worker-loop.js';
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

/** A started loop on `queue` that never runs a batch (these tests are about its pulls). */
function startNoBatchLoop(queue: RequestQueue, id: string, more: Partial<WorkerLoopOptions> = {}): void {
  const t = table();
  const loop = testLoop({ id, queue, executor: { run: () => Promise.reject(new Error('no batches in this test')) }, policy: buildPolicy('slackfit', t), table: t, maxBatch: 8, ...more });
  loops.push(loop);
  loop.start();
}

function startLoop(queue: FlakyPullQueue): void {
  startNoBatchLoop(queue, 'w-test');
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

/** A queue whose pull does not return until let go (a hung command). */
class HangingPullQueue extends MemoryQueue {
  private hung: ((d: Delivery[]) => void)[] = [];
  private hang = true;
  constructor() {
    super(new MemoryBroker());
  }
  override async pull(worker: string, max: number, blockMs: number): Promise<Delivery[]> {
    if (this.hang) return new Promise<Delivery[]>((res) => this.hung.push(res));
    return super.pull(worker, max, Math.min(blockMs, 20));
  }
  letGo(): void {
    this.hang = false;
    for (const r of this.hung.splice(0)) r([]);
  }
}

describe('a stalled pull loop says where it is', () => {
  const queues: HangingPullQueue[] = [];
  afterEach(() => queues.splice(0).forEach((q) => q.letGo())); // before the loops stop (registered later, runs first)

  function watched(lines: string[], hang: boolean): void {
    const queue = new HangingPullQueue();
    queues.push(queue);
    if (!hang) queue.letGo();
    startNoBatchLoop(queue, 'w-watch', { reclaimEveryMs: 50, stallLogMs: 150, log: (l) => lines.push(l) });
  }

  it('a pull that does not return is logged once, with the step and the local state', async () => {
    const lines: string[] = [];
    watched(lines, true);
    await until(() => lines.some((l) => l.includes('pull loop')), 3_000);
    await new Promise((r) => setTimeout(r, 300));
    const stalls = lines.filter((l) => l.includes('pull loop'));
    expect(stalls).toHaveLength(1);
    expect(stalls[0]).toMatch(/^worker: its pull loop has been pulling for \d+\.\d s \(local queue 0 of 8, 1 of 1 slots free, backend reachable\)$/);
  });

  it('a loop whose pulls return is never logged', async () => {
    const quiet: string[] = [];
    watched(quiet, false);
    await new Promise((r) => setTimeout(r, 600));
    expect(quiet.filter((l) => l.includes('pull loop'))).toEqual([]);
  });
});
