/**
 * FP32 tensors as bytes and as floats: little-endian conversions without needless copies, and the
 * decoded tensor types of the edges (bytes as received, floats made only on demand).
 */
import { endianness } from 'node:os';
import type { DecodedTensor } from './types.js';

export const LITTLE_ENDIAN_HOST = endianness() === 'LE';

/** FP32 LE `bytes` decoded into the start of `out` (a view of the first bytes/4 values). */
export function float32Into(bytes: Uint8Array, out: Float32Array): Float32Array {
  const n = bytes.byteLength >> 2;
  if (LITTLE_ENDIAN_HOST) new Uint8Array(out.buffer, out.byteOffset, n * 4).set(bytes.subarray(0, n * 4));
  else {
    const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    for (let i = 0; i < n; i++) out[i] = dv.getFloat32(i * 4, true);
  }
  return out.subarray(0, n);
}

/** A tensor over FP32 bytes; `data` is made only when someone asks for floats. */
export class BytesTensor implements DecodedTensor {
  private floats: Float32Array | undefined;
  constructor(
    readonly bytes: Uint8Array,
    readonly batch: number,
    readonly shape: readonly number[],
  ) {}
  get data(): Float32Array {
    this.floats ??= float32View(this.bytes);
    return this.floats;
  }
}

/** A tensor over floats decoded from JSON or typed contents (already a fresh array). */
export function floatTensor(data: Float32Array, batch: number, shape: readonly number[]): DecodedTensor {
  const bytes = LITTLE_ENDIAN_HOST ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength) : float32ToLE(data);
  return { bytes, data, batch, shape };
}

/** Little-endian FP32 bytes into a fresh (aligned, unshared) Float32Array. */
export function float32FromLE(bytes: Uint8Array): Float32Array {
  return float32Into(bytes, new Float32Array(bytes.byteLength >> 2));
}

/**
 * FP32 little-endian bytes as a Float32Array: a view when the bytes are 4-byte aligned (no copy:
 * it shares the received message's memory, so it must not be mutated or transferred), else a copy.
 */
export function float32View(bytes: Uint8Array): Float32Array {
  if (LITTLE_ENDIAN_HOST && bytes.byteOffset % 4 === 0) return new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
  return float32FromLE(bytes);
}

export function float32ToLE(data: Float32Array): Buffer {
  const out = Buffer.allocUnsafe(data.length * 4);
  if (LITTLE_ENDIAN_HOST) out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  else for (let i = 0; i < data.length; i++) out.writeFloatLE(data[i]!, i * 4);
  return out;
}

export function int64ToLE(values: ArrayLike<number>): Buffer {
  const out = Buffer.alloc(values.length * 8);
  for (let i = 0; i < values.length; i++) out.writeBigInt64LE(BigInt(values[i]!), i * 8);
  return out;
}
