/**
 * IDX image/label files (the MNIST family's format, optionally gzipped) and the manifest's
 * preprocessing. Used for evaluation, the committed test sample, and replay inputs.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { SlackserveError } from '../errors.js';
import type { Preprocessing } from './manifest-types.js';

/** Where Debian's dataset-fashion-mnist package installs the official files. */
export const DEFAULT_FASHION_MNIST_DIR = '/usr/share/datasets/fashion-mnist';

export interface IdxArray {
  readonly dims: readonly number[];
  readonly data: Uint8Array;
}

export function readIdx(path: string): IdxArray {
  if (!existsSync(path)) throw new SlackserveError('DATASET_MISSING', `IDX file not found: ${path}`, { path });
  let buf: Buffer = readFileSync(path);
  if (buf[0] === 0x1f && buf[1] === 0x8b) buf = gunzipSync(buf);
  if (buf.length < 4 || buf[0] !== 0 || buf[1] !== 0 || buf[2] !== 0x08)
    throw new SlackserveError('INPUT_INVALID', `${path}: not an unsigned-byte IDX file`, { path });
  const ndim = buf[3] ?? 0;
  const dims: number[] = [];
  for (let i = 0; i < ndim; i++) dims.push(buf.readUInt32BE(4 + 4 * i));
  const offset = 4 + 4 * ndim;
  const size = dims.reduce((a, b) => a * b, 1);
  if (buf.length - offset !== size)
    throw new SlackserveError('INPUT_INVALID', `${path}: header says ${size} bytes of data, file has ${buf.length - offset}`, {
      path,
    });
  return { dims, data: new Uint8Array(buf.buffer, buf.byteOffset + offset, size) };
}

export interface LabelledImages {
  readonly count: number;
  /** Raw pixels, count x (H*W), 0..255. */
  readonly pixels: Uint8Array;
  readonly labels: Uint8Array;
  readonly height: number;
  readonly width: number;
}

export function readLabelledImages(imagesPath: string, labelsPath: string): LabelledImages {
  const images = readIdx(imagesPath);
  const labels = readIdx(labelsPath);
  const [count, height, width] = images.dims;
  if (images.dims.length !== 3 || count === undefined || height === undefined || width === undefined)
    throw new SlackserveError('INPUT_INVALID', `${imagesPath}: expected a 3-D image array, got dims ${JSON.stringify(images.dims)}`);
  if (labels.dims.length !== 1 || labels.dims[0] !== count)
    throw new SlackserveError('INPUT_INVALID', `${labelsPath}: expected ${count} labels, got dims ${JSON.stringify(labels.dims)}`);
  return { count, pixels: images.data, labels: labels.data, height, width };
}

/** Fashion-MNIST split from a directory holding the official file names. */
export function readFashionMnist(dir: string, split: 'train' | 't10k'): LabelledImages {
  return readLabelledImages(join(dir, `${split}-images-idx3-ubyte.gz`), join(dir, `${split}-labels-idx1-ubyte.gz`));
}

/** Applies the manifest's preprocessing to images [start, start+n) into a new Float32Array. */
export function preprocess(set: LabelledImages, pre: Preprocessing, start = 0, n = set.count - start): Float32Array {
  const size = set.height * set.width;
  const out = new Float32Array(n * size);
  const src = set.pixels.subarray(start * size, (start + n) * size);
  const a = pre.scale / pre.std;
  const b = -pre.mean / pre.std;
  for (let i = 0; i < src.length; i++) out[i] = (src[i] as number) * a + b;
  return out;
}
