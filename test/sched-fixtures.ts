/** Hand-built profiles and queues for scheduler tests: latencies are exact, so rules are checkable. */
import { LatencyTable } from '../src/scheduler/latency-table.js';
import type { QueuedRequest, QueueView, DecisionContext } from '../src/scheduler/types.js';
import { PROFILE_FORMAT, type Profile } from '../src/supernet/profile-file.js';

const SIZES = [1, 2, 4, 8, 16, 32, 64];

/** Affine batch latency base + per*b (p95 = 1.2 x p50), measured at powers of two. */
export function syntheticProfile(subnets: readonly { id: string; top1: number; base: number; per: number; load?: number }[]): Profile {
  return {
    format: PROFILE_FORMAT,
    supernet: 'synthetic',
    date: '2026-01-01T00:00:00Z',
    machine: 'test',
    onnxruntime: 'n/a',
    settings: { threads: 1, intraOpThreads: 1, executionProvider: 'cpu', spinning: false, encoding: 'branched' },
    repeats: 1,
    batch_sizes: SIZES,
    subnets: subnets.map((s) => {
      const whole = Object.fromEntries(SIZES.map((b) => [String(b), { p50: s.base + s.per * b, p95: 1.2 * (s.base + s.per * b) }]));
      return { id: s.id, top1: s.top1, macs: 1, whole, staged: whole, stages: {} };
    }),
    variant_load_ms: Object.fromEntries(subnets.map((s) => [s.id, { p50: s.load ?? 5, p95: (s.load ?? 5) * 1.1 }])),
  };
}

/** fast (85%), mid (90%), slow (93%): batch-b latency base + per*b ms. */
export const THREE = syntheticProfile([
  { id: 'fast', top1: 0.85, base: 0.5, per: 0.05, load: 4 },
  { id: 'mid', top1: 0.9, base: 1, per: 0.2, load: 8 },
  { id: 'slow', top1: 0.93, base: 2, per: 0.5, load: 12 },
]);

export const table = (quantile: 'p50' | 'p95' = 'p50'): LatencyTable => LatencyTable.fromProfile(THREE, { quantile });

let nextKey = 0;
export function req(deadline: number, o: Partial<QueuedRequest> = {}): QueuedRequest {
  return { key: nextKey++, arrival: 0, deadline, minAccuracy: 0, priority: 0, sheddable: true, ...o };
}

/** A queue snapshot that is already in EDF order. */
export function snapshot(rs: readonly QueuedRequest[]): QueueView {
  const sorted = [...rs].sort((a, b) => a.deadline - b.deadline);
  return { length: sorted.length, earliest: (k) => sorted.slice(0, k) };
}

export function ctx(now: number, rs: readonly QueuedRequest[], loaded: readonly string[] = []): DecisionContext {
  return { now, queue: snapshot(rs), executor: { id: 0, loaded, workers: 1 } };
}
