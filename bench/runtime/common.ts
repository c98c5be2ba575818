/** Shared pieces of the runtime benchmarks: sessions per encoding, inputs, JSON output. */
import { Catalogue } from '../../src/supernet/catalogue.js';
import { controlTensor, imageTensor, openSession, ort } from '../../src/runtime/session.js';

export type Encoding = 'static' | 'sliced' | 'branched' | 'branched-extended';

/** The graph file of each SubNetAct encoding, relative to the supernet directory. */
export const ENCODING_FILES: Record<Exclude<Encoding, 'static'>, string> = {
  sliced: 'supernet.onnx',
  branched: 'supernet-branched.onnx',
  // the same graph with onnxruntime's NCHWc layout transform off (graph optimisation 'extended')
  'branched-extended': 'supernet-branched.onnx',
};

export { syntheticBatch as inputs } from '../../src/runtime/timing.js';

/** A runner for (encoding, subnet, batch): returns a function doing one session.run. */
export async function runners(cat: Catalogue, encodings: readonly Encoding[], ids: readonly string[]) {
  const settings = { intraOpThreads: 1, executionProvider: 'cpu' as const };
  const supernets = new Map<Encoding, ort.InferenceSession>();
  for (const e of encodings)
    if (e !== 'static')
      supernets.set(
        e,
        e.endsWith('-extended')
          ? await ort.InferenceSession.create(cat.path(ENCODING_FILES[e]), {
              intraOpNumThreads: 1,
              interOpNumThreads: 1,
              graphOptimizationLevel: 'extended',
              extra: { session: { intra_op: { allow_spinning: '0' } } },
            })
          : await openSession(cat.path(ENCODING_FILES[e]), settings),
      );
  const statics = new Map<string, ort.InferenceSession>();
  if (encodings.includes('static')) for (const id of ids) statics.set(id, await openSession(cat.path(cat.subnet(id).static_graph), settings));
  return (encoding: Encoding, id: string, x: Float32Array): (() => Promise<unknown>) => {
    const image = imageTensor(x, cat.sampleShape);
    if (encoding === 'static') {
      const s = statics.get(id) as ort.InferenceSession;
      return () => s.run({ image });
    }
    const s = supernets.get(encoding) as ort.InferenceSession;
    const feeds: Record<string, ort.Tensor> = { image };
    for (const [k, f] of Object.entries(cat.subnet(id).feeds)) feeds[k] = controlTensor(f);
    return () => s.run(feeds);
  };
}

export const median = (v: readonly number[]): number => {
  const s = [...v].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};

export const r3 = (v: number): number => Math.round(v * 1000) / 1000;
