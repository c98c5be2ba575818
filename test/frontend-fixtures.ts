/** A decoded single-image inference call, as the edge hands it to the frontend (frontend unit tests). */
import { parseSlo } from '../src/api/slo.js';
import type { DecodedInfer } from '../src/api/types.js';
import type { Catalogue } from '../src/supernet/catalogue.js';

export function decodedInfer(cat: Catalogue, id: string, params: DecodedInfer['params'], now: number, defaultBudgetMs = 50): DecodedInfer {
  const bytes = new Uint8Array(784 * 4);
  return {
    id,
    model: cat.manifest.name,
    version: '',
    tensor: { bytes, data: new Float32Array(bytes.buffer), batch: 1, shape: [1, 1, 28, 28] },
    slo: parseSlo(params, { now, defaultBudgetMs }),
    outputs: ['logits', 'class'],
    wantsRaw: true,
    protocol: 'grpc',
    params,
  };
}
