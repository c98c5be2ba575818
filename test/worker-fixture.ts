/** A WorkerLoop for unit tests: 4 floats per image, 10 classes, one slot, reclaim out of the way. */
import type { Policy } from '../src/scheduler/types.js';
import type { LatencyTable } from '../src/scheduler/latency-table.js';
import type { RequestQueue } from '../src/queue/types.js';
import { epochMs, WorkerLoop, type BatchRunner, type WorkerLoopOptions } from '../src/worker/worker-loop.js';

export function testLoop(o: { id: string; queue: RequestQueue; executor: BatchRunner; policy: Policy; table: LatencyTable; maxBatch: number } & Partial<WorkerLoopOptions>): WorkerLoop {
  return new WorkerLoop({
    model: 'm',
    slots: 1,
    sampleSize: 4,
    localCap: o.maxBatch,
    pullBlockMs: 20,
    reclaimEveryMs: 60_000,
    reclaimIdleMs: 60_000,
    clock: epochMs,
    classes: 10,
    ...o,
  });
}
