/** The collected ramp outputs (collect.ts) and their conversion to exit feedback records. */
import { readFileSync } from 'node:fs';
import type { FeedbackRecord } from '../../src/exits/feedback.js';

export const FEEDBACK_FORMAT = 'slackserve-exit-feedback/1';

/** Largest, a mid one and a small one of the Pareto set (9, 6 and 3 stages). */
export const DEFAULT_SUBNETS = ['r28_d333_w32-64-128', 'r28_d222_w16-32-64', 'r16_d111_w16-32-64'] as const;

export interface FeedbackFile {
  readonly format: typeof FEEDBACK_FORMAT;
  readonly supernet: string;
  readonly subnet: string;
  readonly stages: readonly string[];
  readonly classes: number;
  readonly count: number;
  readonly source: string;
  readonly encoding: string;
  readonly layout: string;
  /** base64 uint8 [count] */
  readonly labels: string;
  /** base64 uint8 [count x (stages + 1)] */
  readonly pred: string;
  /** base64 float32 LE [count x (stages + 1)] */
  readonly loss: string;
}

export interface Collected {
  readonly file: FeedbackFile;
  /** One record per test input, in test-set order, with its label. */
  readonly records: readonly FeedbackRecord[];
}

export function loadCollected(path: string): Collected {
  const file = JSON.parse(readFileSync(path, 'utf8')) as FeedbackFile;
  if (file.format !== FEEDBACK_FORMAT) throw new Error(`${path}: not ${FEEDBACK_FORMAT}`);
  const labels = Buffer.from(file.labels, 'base64');
  const predBuf = Buffer.from(file.pred, 'base64');
  const lossBuf = Buffer.from(file.loss, 'base64');
  const loss = new Float32Array(lossBuf.buffer.slice(lossBuf.byteOffset, lossBuf.byteOffset + lossBuf.byteLength));
  const n = file.stages.length;
  const e = n + 1;
  const records: FeedbackRecord[] = [];
  for (let i = 0; i < file.count; i++) {
    records.push({
      loss: Float64Array.from(loss.subarray(i * e, i * e + n)),
      pred: Int32Array.from(predBuf.subarray(i * e, i * e + n)),
      finalPred: predBuf[i * e + n] as number,
      finalLoss: loss[i * e + n] as number,
      label: labels[i] as number,
    });
  }
  return { file, records };
}

/**
 * Logits that reproduce a stored (argmax, loss) pair exactly under `rowConfidence`: 0 for the
 * predicted class and log(rest / (C - 1)) for the others, with rest = loss / (1 - loss). Lets
 * the evaluation drive the real BatchExits API from the compact files.
 */
export function writeLogits(out: Float32Array, row: number, classes: number, pred: number, loss: number): void {
  const rest = loss / (1 - loss);
  const other = Math.log(Math.max(rest, 1e-30) / (classes - 1));
  for (let k = 0; k < classes; k++) out[row * classes + k] = k === pred ? 0 : other;
}

/** Deterministic PRNG (mulberry32). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function shuffled<T>(items: readonly T[], seed: number): T[] {
  const r = rng(seed);
  const a = [...items];
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [a[i], a[j]] = [a[j] as T, a[i] as T];
  }
  return a;
}
