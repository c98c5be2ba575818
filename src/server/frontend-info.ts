/** Small pure pieces of the frontend: the extensions it announces, the confidence it reports. */

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
