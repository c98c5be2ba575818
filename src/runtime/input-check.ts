/**
 * Input validation at the runtime boundary: every batch is checked before it reaches a worker
 * thread, so a bad tensor becomes a typed INPUT_INVALID error and never a crashed thread.
 */
import { SlackserveError } from '../errors.js';

/** Returns the batch size of `images` (a flat FP32 array of whole samples), or throws. */
export function checkBatch(images: unknown, sampleSize: number, maxBatch: number, checkValues = true): number {
  if (!(images instanceof Float32Array)) {
    const got = images === null ? 'null' : typeof images === 'object' ? (images as object).constructor?.name ?? 'object' : typeof images;
    throw new SlackserveError('INPUT_INVALID', `expected FP32 image data (Float32Array), got ${got}`);
  }
  if (images.length === 0) throw new SlackserveError('INPUT_INVALID', 'empty batch: no images given');
  if (images.length % sampleSize !== 0)
    throw new SlackserveError(
      'INPUT_INVALID',
      `image data of ${images.length} values is not a whole number of samples of ${sampleSize} values each`,
      { length: images.length, sampleSize },
    );
  const n = images.length / sampleSize;
  if (n > maxBatch)
    throw new SlackserveError('INPUT_INVALID', `batch of ${n} exceeds the maximum batch size ${maxBatch}`, { batch: n, maxBatch });
  if (!checkValues) return n;
  for (let i = 0; i < images.length; i++) {
    if (!Number.isFinite(images[i] as number)) {
      const sample = Math.floor(i / sampleSize);
      throw new SlackserveError('INPUT_INVALID', `non-finite value ${images[i]} in sample ${sample} at element ${i - sample * sampleSize}`, {
        sample,
      });
    }
  }
  return n;
}
