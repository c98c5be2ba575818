/**
 * What switching model costs when variants are separate models (the INFaaS baseline): time to
 * create an onnxruntime session for a subnet's static graph and run its first batch-1 inference
 * (weights pre-packed, kernels chosen). SubNetAct's point is that this cost disappears.
 */
import { join } from 'node:path';
import type { Catalogue } from '../supernet/catalogue.js';
import type { LatencyStats } from '../supernet/manifest-types.js';
import { imageTensor, openSession, type SessionSettings } from './session.js';
import { quantile, syntheticBatch } from './timing.js';

export async function measureVariantLoads(
  cat: Catalogue,
  settings: SessionSettings,
  ids: readonly string[],
  repeats: number,
  log: (line: string) => void,
): Promise<Record<string, LatencyStats>> {
  const out: Record<string, LatencyStats> = {};
  const x = syntheticBatch(1, cat.sampleSize);
  for (const id of ids) {
    const s = cat.subnet(id);
    const times: number[] = [];
    for (let i = 0; i < repeats + 1; i++) {
      const t0 = performance.now();
      const session = await openSession(join(cat.dir, s.static_graph), settings);
      await session.run({ [cat.manifest.input.name]: imageTensor(x, cat.sampleShape) });
      const dt = performance.now() - t0;
      await session.release();
      if (i > 0) times.push(dt); // the first load also pays file-cache misses
    }
    times.sort((a, b) => a - b);
    out[id] = { p50: round(quantile(times, 0.5)), p95: round(quantile(times, 0.95)) };
    log(`variant load ${id}: p50 ${out[id].p50.toFixed(2)} ms, p95 ${out[id].p95.toFixed(2)} ms`);
  }
  return out;
}

const round = (v: number): number => Math.round(v * 1000) / 1000;
