/** Typed errors from the runtime layer for bad input and an unavailable execution provider. */
import { describe, expect, it } from 'vitest';
import { SlackserveError } from '../../src/errors.js';
import { imageTensor, openSession } from '../../src/runtime/session.js';
import { SupernetGraphs } from '../../src/runtime/supernet-graphs.js';
import { Catalogue } from '../../src/supernet/catalogue.js';
import { SUPERNET_DIR } from '../helpers.js';

describe('runtime errors', () => {
  it('image data that is not a whole number of samples is INPUT_INVALID', () => {
    expect(() => imageTensor(new Float32Array(784 + 3), [1, 28, 28])).toThrow(/not a whole number of 784-float samples/);
    expect(() => imageTensor(new Float32Array(0), [1, 28, 28])).toThrow(SlackserveError);
  });

  it('an unknown subnet id is SUBNET_UNKNOWN at run time', async () => {
    const g = await SupernetGraphs.open(Catalogue.load(SUPERNET_DIR));
    try {
      await expect(g.runWhole(new Float32Array(784), 'nope')).rejects.toMatchObject({ code: 'SUBNET_UNKNOWN' });
    } finally {
      await g.close();
    }
  });

  it('asking for CUDA on a CPU-only onnxruntime build is a clear BACKEND_UNAVAILABLE error', async () => {
    const cat = Catalogue.load(SUPERNET_DIR);
    const err = await openSession(cat.path(cat.manifest.graphs.head.file), { intraOpThreads: 1, executionProvider: 'cuda' }).then(
      () => null,
      (e: unknown) => e,
    );
    // Where onnxruntime-node has a working CUDA provider the session opens; here (CPU) it must not crash.
    if (err !== null) {
      expect(err).toBeInstanceOf(SlackserveError);
      expect((err as SlackserveError).code).toBe('BACKEND_UNAVAILABLE');
      expect((err as SlackserveError).message).toMatch(/CUDA/);
    }
  });
});
