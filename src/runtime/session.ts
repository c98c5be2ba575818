/**
 * onnxruntime session creation and the tensors the supernet graphs take. Everything that touches
 * onnxruntime-node directly lives under src/runtime.
 */
import * as ort from 'onnxruntime-node';
import { SlackserveError } from '../errors.js';
import type { ControlFeed } from '../supernet/manifest-types.js';

export interface SessionSettings {
  readonly intraOpThreads: number;
  readonly executionProvider: 'cpu' | 'cuda';
  /** Let idle intra-op threads busy-wait for work (faster hand-off, burns cores). */
  readonly spinning?: boolean;
}

export const DEFAULT_SESSION_SETTINGS: SessionSettings = Object.freeze({ intraOpThreads: 1, executionProvider: 'cpu', spinning: false });

export async function openSession(path: string, settings: SessionSettings = DEFAULT_SESSION_SETTINGS): Promise<ort.InferenceSession> {
  const options: ort.InferenceSession.SessionOptions = {
    intraOpNumThreads: settings.intraOpThreads,
    interOpNumThreads: 1,
    executionProviders: [settings.executionProvider],
    graphOptimizationLevel: 'all',
    // Idle intra-op threads busy-spin by default; with several sessions on 2 cores they steal
    // time from each other (mechanisms.md section 4).
    extra: { session: { intra_op: { allow_spinning: settings.spinning ? '1' : '0' } } },
  };
  try {
    return await ort.InferenceSession.create(path, options);
  } catch (err) {
    const msg = (err as Error).message;
    if (settings.executionProvider === 'cuda')
      throw new SlackserveError(
        'BACKEND_UNAVAILABLE',
        `cannot create a CUDA session for ${path}: this onnxruntime-node build has no usable CUDA execution provider (${msg})`,
        { path },
        { cause: err },
      );
    throw new SlackserveError('GRAPH_MISMATCH', `onnxruntime cannot load ${path}: ${msg}`, { path }, { cause: err });
  }
}

export function controlTensor(feed: ControlFeed): ort.Tensor {
  return new ort.Tensor('int64', BigInt64Array.from(feed.values, (v) => BigInt(v)), feed.dims.slice());
}

export function imageTensor(data: Float32Array, sampleShape: readonly number[]): ort.Tensor {
  const per = sampleShape.reduce((a, b) => a * b, 1);
  if (data.length === 0 || data.length % per !== 0)
    throw new SlackserveError('INPUT_INVALID', `image data of ${data.length} floats is not a whole number of ${per}-float samples`);
  return new ort.Tensor('float32', data, [data.length / per, ...sampleShape]);
}

/** Checks that a session declares exactly the inputs/outputs the manifest says it has. */
export function checkSignature(session: ort.InferenceSession, file: string, inputs: readonly string[], outputs: readonly string[]): void {
  const same = (a: readonly string[], b: readonly string[]): boolean => a.length === b.length && a.every((x) => b.includes(x));
  if (!same(session.inputNames, inputs) || !outputs.every((o) => session.outputNames.includes(o)))
    throw new SlackserveError(
      'GRAPH_MISMATCH',
      `${file}: graph declares inputs [${session.inputNames.join(', ')}] and outputs [${session.outputNames.join(', ')}]; ` +
        `manifest.json says inputs [${inputs.join(', ')}] and outputs [${outputs.join(', ')}]`,
      { file },
    );
}

export { ort };
