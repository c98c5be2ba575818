/** Moving request tensors between the queue's byte form and the executor's Float32Array. */

/** A Float32Array view of FP32 little-endian bytes (copies only when the bytes are misaligned). */
export function floatsOf(bytes: Uint8Array): Float32Array {
  if (bytes.byteOffset % 4 === 0) return new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
  return new Float32Array(bytes.slice().buffer);
}

/** FP32 bytes of a float array (a view, no copy). */
export function bytesOf(f: Float32Array): Uint8Array {
  return new Uint8Array(f.buffer, f.byteOffset, f.byteLength);
}

/**
 * Concatenates request tensors (FP32 little-endian bytes, any alignment) into one batch the
 * executor may own, in `alloc(floats)`'s array: one copy per request, nothing else allocated.
 */
export function concatBatch(parts: readonly Uint8Array[], alloc: (floats: number) => Float32Array = (n) => new Float32Array(n)): Float32Array {
  let bytes = 0;
  for (const p of parts) bytes += p.byteLength;
  const out = alloc(bytes / 4);
  const view = new Uint8Array(out.buffer, out.byteOffset, bytes);
  let at = 0;
  for (const p of parts) {
    view.set(p, at);
    at += p.byteLength;
  }
  return out;
}

export function argmaxRows(logits: Float32Array, rows: number): number[] {
  const cols = logits.length / rows;
  const out: number[] = [];
  for (let r = 0; r < rows; r++) {
    let best = 0;
    for (let c = 1; c < cols; c++) if ((logits[r * cols + c] as number) > (logits[r * cols + best] as number)) best = c;
    out.push(best);
  }
  return out;
}
