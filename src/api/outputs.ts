/**
 * What a request asks of its outputs beyond their names: Triton's classification extension
 * (`classification` = k on a requested output: BYTES [batch, k] strings "score:index:label", the k
 * highest scores of each row, highest first) and, over HTTP, the binary tensor data extension
 * (`binary_data` on an output, `binary_data_output` on the request). The strings are Triton's
 * (src/classification.cc): the score printed as C's `%f` (six decimals), the index, and the label
 * when the model has labels. Scores are the output's own values (logits here), as Triton ranks
 * the raw output tensor.
 */
import { SlackserveError } from '../errors.js';
import { OUTPUT_NAMES, type OutputName } from './types.js';

/** The output parameter naming the number of classes to return (Triton's). */
export const CLASSIFICATION_PARAM = 'classification';

/** Per-output options of one request (absent from a map: the default). */
export interface OutputOptions {
  /** Outputs answered as classifications, with their k (1..classes after capping). */
  readonly classCounts: ReadonlyMap<OutputName, number>;
  /** HTTP only: outputs answered in the binary section. */
  readonly binary: ReadonlySet<OutputName>;
}

export const NO_OUTPUT_OPTIONS: OutputOptions = Object.freeze({ classCounts: new Map<OutputName, number>(), binary: new Set<OutputName>() });

function invalid(message: string): SlackserveError {
  return new SlackserveError('INPUT_INVALID', message);
}

/**
 * Validates a `classification` value for an output: a positive integer (number, or a decimal
 * string as int64 parameters arrive over gRPC); k past the classes is capped, as Triton does.
 */
export function classCountOf(output: string, value: unknown, classes: number): number {
  const n = typeof value === 'number' ? value : typeof value === 'string' && /^-?\d{1,16}$/.test(value) ? Number(value) : NaN;
  if (!Number.isSafeInteger(n) || n < 1)
    throw invalid(`output '${output}': ${CLASSIFICATION_PARAM} must be a positive integer (the number of classes to return), got ${JSON.stringify(value)}`);
  if (output !== 'logits')
    throw invalid(`output '${output}': the classification extension applies to 'logits' (the class scores); '${output}' holds one value per sample`);
  return Math.min(n, classes);
}

/** C's printf("%f"): six decimals (what std::to_string gives a float). */
export function formatScore(v: number): string {
  if (Number.isNaN(v)) return 'nan';
  if (!Number.isFinite(v)) return v > 0 ? 'inf' : '-inf';
  const s = v.toFixed(6);
  return Object.is(v, -0) || (v < 0 && s === '0.000000') ? `-${s.replace(/^-/, '')}` : s;
}

/**
 * The classification strings of `batch` rows of `classes` scores: k per row, highest score first
 * (ties: lower index first), row-major ([batch, k]).
 */
export function classificationStrings(scores: Float32Array, batch: number, classes: number, k: number, labels?: readonly string[]): string[] {
  const out: string[] = [];
  const idx = new Array<number>(classes);
  for (let b = 0; b < batch; b++) {
    const base = b * classes;
    for (let c = 0; c < classes; c++) idx[c] = c;
    idx.sort((x, y) => scores[base + y]! - scores[base + x]! || x - y);
    for (let j = 0; j < k; j++) {
      const c = idx[j]!;
      const label = labels?.[c];
      out.push(`${formatScore(scores[base + c]!)}:${c}${label !== undefined && label !== '' ? `:${label}` : ''}`);
    }
  }
  return out;
}

/** Triton's BYTES tensor serialization: each element as a 4-byte little-endian length, then its bytes. */
export function serializeBytesTensor(items: readonly string[]): Buffer {
  const bufs = items.map((s) => Buffer.from(s, 'utf8'));
  const out = Buffer.allocUnsafe(bufs.reduce((n, b) => n + 4 + b.length, 0));
  let off = 0;
  for (const b of bufs) {
    out.writeUInt32LE(b.length, off);
    b.copy(out, off + 4);
    off += 4 + b.length;
  }
  return out;
}

/** Parses a Triton BYTES tensor serialization back into strings (tests, clients). */
export function parseBytesTensor(buf: Uint8Array): string[] {
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  const out: string[] = [];
  let off = 0;
  while (off < b.length) {
    if (off + 4 > b.length) throw invalid('BYTES tensor: truncated length prefix');
    const n = b.readUInt32LE(off);
    if (off + 4 + n > b.length) throw invalid('BYTES tensor: element runs past the end');
    out.push(b.toString('utf8', off + 4, off + 4 + n));
    off += 4 + n;
  }
  return out;
}

export function isOutputName(n: string): n is OutputName {
  return (OUTPUT_NAMES as readonly string[]).includes(n);
}
