/**
 * The worker loop's execute step for one batch, once its images are in the batch buffer: the
 * executor runs it whole, or (a subnet the exit manager knows) stage by stage through a
 * StagedBatch, which answers released rows at once. The result carries every row's final logits;
 * `finish()`, called after the loop freed the executor slot, ends the staged batch (its feedback
 * to the exit loops) and says which requests were answered already.
 */
import type { ExitManager } from '../exits/index.js';
import type { Delivery, InferenceOk, QueuedInference } from '../queue/types.js';
import type { RunOptions, RunResult } from '../runtime/executor.js';
import { StagedBatch } from './staged-batch.js';

/** What a batch run reads of the loop's options (WorkerLoopOptions has them all). */
export interface BatchRunOptions {
  readonly id: string;
  readonly executor: { run(images: Float32Array, subnetId: string, options?: RunOptions): Promise<RunResult> };
  readonly clock: () => number;
  readonly exits?: ExitManager;
  readonly classes: number;
  readonly exitSaveCompute?: boolean;
}

export interface BatchInput {
  readonly subnet: string;
  /** The batch's deliveries in row order, each with its number of images. */
  readonly helds: readonly { readonly delivery: Delivery; readonly count: number }[];
  readonly images: Float32Array;
  /** Images in the batch. */
  readonly total: number;
  /** When the batch started (before the copy into the buffer). */
  readonly start: number;
  /** The subnet's accuracy (-1 unknown). */
  readonly accuracy: number;
  /** Sends an early or deadline answer while the batch runs. */
  readonly sendEarly: (reply: InferenceOk, req: QueuedInference) => void;
}

export interface BatchRun {
  /** Logits of every row (staged with rows that left early: filled in from their answers). */
  readonly result: RunResult;
  /** Per request: its early (or deadline) answer was final already. */
  finish(): boolean[];
}

export async function runBatch(o: BatchRunOptions, b: BatchInput): Promise<BatchRun> {
  const { subnet, helds, images, total } = b;
  if (!o.exits?.has(subnet)) {
    const result = await o.executor.run(images, subnet, { mode: 'whole', checked: true }); // the edge checked every value
    return { result, finish: () => helds.map(() => false) };
  }
  let first = 0;
  const sb = new StagedBatch({
    subnet,
    classes: o.classes,
    exits: o.exits.begin(subnet, total),
    requests: helds.map((h) => {
      const r = { request: h.delivery.request, first, count: h.count };
      first += h.count;
      return r;
    }),
    start: b.start,
    clock: o.clock,
    worker: o.id,
    accuracy: b.accuracy,
    batchImages: total,
    send: b.sendEarly,
    saveCompute: o.exitSaveCompute === true,
  });
  const result = await o.executor.run(images, subnet, {
    mode: 'staged',
    saveCompute: o.exitSaveCompute === true,
    onStage: (stage, logits, rows) => sb.onStage(stage, logits, rows),
    checked: true,
  });
  if (!result.rows) return { result, finish: () => sb.finish(result.logits) };
  // feedback needs the rows that ran to the end; replies need every row's answer
  const ran = result.rows;
  const subset = result.logits;
  return { result: { ...result, logits: sb.fullFinal(subset, ran) }, finish: () => sb.finish(subset, ran) };
}
