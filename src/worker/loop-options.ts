/**
 * What a worker loop is built from (worker-loop.ts): the executor it runs batches on, and its
 * options. Apart from the loop so that its wiring (serve.ts, worker.ts, tests) reads the contract
 * without the loop's internals.
 */
import type { ExitManager } from '../exits/index.js';
import type { Metrics } from '../metrics/metrics.js';
import type { RequestQueue } from '../queue/types.js';
import type { RunOptions, RunResult } from '../runtime/executor.js';
import type { LatencyTable } from '../scheduler/latency-table.js';
import type { Policy } from '../scheduler/types.js';

/** What the loop needs from the executor (the real one, or a trivial model in queue benchmarks). */
export interface BatchRunner {
  run(images: Float32Array, subnetId: string, options?: RunOptions): Promise<RunResult>;
  /** A buffer to fill with the batch's images (reused across batches); a fresh array when absent. */
  batchBuffer?(floats: number): Float32Array;
}

export interface WorkerLoopOptions {
  readonly id: string;
  readonly model: string;
  readonly queue: RequestQueue;
  readonly executor: BatchRunner;
  readonly policy: Policy;
  readonly table: LatencyTable;
  /** Batches that may run at once (the executor's threads). */
  readonly slots: number;
  readonly maxBatch: number;
  /** Floats per image. */
  readonly sampleSize: number;
  /** Requests held locally at most (pulled, not yet running): leaves work for other workers. */
  readonly localCap: number;
  readonly pullBlockMs: number;
  readonly reclaimEveryMs: number;
  readonly reclaimIdleMs: number;
  /** Epoch ms with sub-ms resolution (injected: tests may drive it). */
  readonly clock: () => number;
  readonly metrics?: Metrics;
  readonly log?: (line: string) => void;
  /** Early exits: batches on subnets it knows run staged and release confident rows early. */
  readonly exits?: ExitManager;
  /** Classes per output row. */
  readonly classes: number;
  /** Exits: drop released rows from later stages (saves compute; their final output is never fed back). */
  readonly exitSaveCompute?: boolean;
  /** Batches allowed at once right now (<= slots); e.g. fewer while the event loop lags (loop-guard.ts). */
  readonly slotLimit?: () => number;
  /** A pull-loop step that lasts longer than this is logged once (pull-watch.ts); default 3 s. */
  readonly stallLogMs?: number;
}
