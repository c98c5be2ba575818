/**
 * Baselines that serve one fixed subnet, as a fixed-model server (Triton-style) would:
 * - `static`: the largest batch the queue can fill, up to the maximum; only requests whose
 *   deadline already passed are dropped (deadlines are enforced at dequeue).
 * - `clipper`: Clipper+'s adaptive batching: the batch cap grows additively while batches finish
 *   within the SLO and shrinks multiplicatively when one does not (AIMD).
 * - `clockwork`: Clockwork-style EDF with predictive drop: requests that cannot finish in time
 *   even alone are dropped, then the largest batch that still meets the earliest deadline runs.
 */
import { dropHopeless, imagePrefix } from './common.js';
import type { LatencyTable, SubnetInfo } from './latency-table.js';
import type { BatchOutcome, Policy, QueuedRequest } from './types.js';

export function staticPolicy(table: LatencyTable, subnet: SubnetInfo, name = `static:${subnet.id}`): Policy<null> {
  return {
    name,
    loadsVariants: false,
    init: () => null,
    decide: (ctx) => {
      const { drops, rest } = dropHopeless(ctx.queue.earliest(table.maxBatch), ctx.now, null);
      const { cum, fit } = imagePrefix(rest, table.maxBatch);
      const b = Math.min(cum[fit] as number, table.maxBatch);
      return {
        decision: { dispatch: fit === 0 ? null : { subnet: subnet.id, requests: rest.slice(0, fit), expectedMs: table.ms(subnet.index, b), loadMs: 0 }, drops },
        state: null,
      };
    },
    observe: (s) => s,
  };
}

export interface AimdOptions {
  readonly additive: number;
  readonly multiplicative: number;
  readonly initialCap: number;
}

export const AIMD_DEFAULTS: AimdOptions = Object.freeze({ additive: 1, multiplicative: 0.9, initialCap: 1 });

/** Clipper's AIMD step: pure, so the tests can check each rule. */
export function aimdStep(cap: number, outcome: BatchOutcome, maxBatch: number, o: AimdOptions): number {
  if (outcome.latencyMs > outcome.tightestSloMs) return Math.max(1, cap * o.multiplicative);
  // only grow when the cap was what limited the batch (a short queue says nothing about bigger batches)
  if (outcome.batch >= Math.floor(cap)) return Math.min(maxBatch, cap + o.additive);
  return cap;
}

export function clipperPolicy(table: LatencyTable, subnet: SubnetInfo, options: Partial<AimdOptions> = {}, name = `clipper:${subnet.id}`): Policy<number> {
  const o: AimdOptions = { ...AIMD_DEFAULTS, ...options };
  return {
    name,
    loadsVariants: false,
    init: () => o.initialCap,
    decide: (ctx, cap) => {
      const { drops, rest } = dropHopeless(ctx.queue.earliest(Math.max(1, Math.floor(cap))), ctx.now, null);
      // the cap counts images, like the batch latency it protects
      const { cum, fit } = imagePrefix(rest, Math.max(1, Math.floor(cap)));
      const b = Math.min(cum[fit] as number, table.maxBatch);
      return {
        decision: { dispatch: fit === 0 ? null : { subnet: subnet.id, requests: rest.slice(0, fit), expectedMs: table.ms(subnet.index, b), loadMs: 0 }, drops },
        state: cap,
      };
    },
    observe: (cap, outcome) => aimdStep(cap, outcome, table.maxBatch, o),
  };
}

export function clockworkPolicy(table: LatencyTable, subnet: SubnetInfo, dispatchOverheadMs: number, name = `clockwork:${subnet.id}`): Policy<null> {
  const alone = (): number => dispatchOverheadMs + table.ms(subnet.index, 1);
  return {
    name,
    loadsVariants: false,
    init: () => null,
    decide: (ctx) => {
      const { drops, rest } = dropHopeless(ctx.queue.earliest(table.maxBatch), ctx.now, alone);
      if (rest.length === 0) return { decision: { dispatch: null, drops }, state: null };
      // EDF order: the head has the earliest deadline, so the batch meets every deadline iff it meets the head's
      const slack = (rest[0] as QueuedRequest).deadline - ctx.now - dispatchOverheadMs;
      const { cum, fit } = imagePrefix(rest, table.maxBatch);
      let j = fit;
      const ms = (k: number): number => table.ms(subnet.index, Math.min(cum[k] as number, table.maxBatch));
      while (j > 1 && ms(j) > slack) j--;
      return {
        decision: { dispatch: { subnet: subnet.id, requests: rest.slice(0, j), expectedMs: ms(j), loadMs: 0 }, drops },
        state: null,
      };
    },
    observe: (s) => s,
  };
}
