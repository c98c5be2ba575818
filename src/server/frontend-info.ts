/** Small pure pieces of the frontend: the extensions it announces, the confidence it reports, the answer a reply becomes. */
import type { InferAnswer } from '../api/types.js';
import type { InferenceReply } from '../queue/types.js';
import { floatsOf } from '../worker/tensors.js';

/** The protocol extensions ServerMetadata lists (Triton's names, then ours). */
export const SERVER_EXTENSIONS: readonly string[] = Object.freeze([
  'classification',
  'model_configuration',
  'model_repository',
  'statistics',
  'binary_tensor_data',
  'slo_parameters',
  'model_stream_infer',
  'early_exit',
]);

/** Lowest top-softmax probability over the rows (the batch's least confident answer). */
export function minConfidence(logits: Float32Array, rows: number): number {
  const cols = logits.length / rows;
  let min = 1;
  for (let r = 0; r < rows; r++) {
    let mx = -Infinity;
    for (let c = 0; c < cols; c++) mx = Math.max(mx, logits[r * cols + c] as number);
    let sum = 0;
    for (let c = 0; c < cols; c++) sum += Math.exp((logits[r * cols + c] as number) - mx);
    min = Math.min(min, 1 / sum);
  }
  return min;
}

/** The answer a worker's successful reply becomes for a call of `rows` images (`serverUs`: arrival stamp to now, for final answers). */
export function answerOf(r: Extract<InferenceReply, { ok: true }>, rows: number, serverUs?: number): InferAnswer {
  const logits = floatsOf(r.logits);
  return {
    logits,
    classes: r.classes,
    servedBy: {
      subnet: r.subnet,
      exit: r.exit ?? 'final',
      confidence: minConfidence(logits, rows),
      queueUs: r.queueUs,
      computeUs: r.computeUs,
      ...(serverUs !== undefined ? { serverUs } : {}),
      deadlineMet: r.deadlineMet,
      downgraded: r.downgraded,
      ...(r.final ? {} : { early: true }),
      ...(r.extra?.deadline_answer === true ? { deadlineAnswer: true } : {}),
      ...(typeof r.extra?.input_us === 'number' ? { inputUs: r.extra.input_us } : {}),
      ...(typeof r.extra?.output_us === 'number' ? { outputUs: r.extra.output_us } : {}),
    },
  };
}
