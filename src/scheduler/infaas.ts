/**
 * INFaaS-style per-request variant selection over separately loaded models. For the earliest-
 * deadline request, the most accurate variant that (with its load time when it is not resident)
 * finishes the batch within the slack is chosen; the batch shrinks by halves until one fits,
 * and a variant that is already loaded is preferred among equally accurate ones. The executor
 * keeps an LRU of loaded variants and pays `loadMs` (measured: `variant_load_ms` in the profile)
 * on a miss: the cost SubNetAct removes.
 */
import { accuracyPrefix, dropHopeless, imagePrefix } from './common.js';
import type { LatencyTable, SubnetInfo } from './latency-table.js';
import type { Policy, QueuedRequest } from './types.js';

export function infaasPolicy(table: LatencyTable, dispatchOverheadMs: number): Policy<null> {
  const loadCost = (s: SubnetInfo, loaded: readonly string[]): number => (loaded.includes(s.id) ? 0 : table.loadMs(s.index) || 0);
  return {
    name: 'infaas',
    loadsVariants: true,
    init: () => null,
    decide: (ctx) => {
      const { drops, rest } = dropHopeless(ctx.queue.earliest(table.maxBatch), ctx.now, null);
      if (rest.length === 0) return { decision: { dispatch: null, drops }, state: null };
      const loaded = ctx.executor.loaded;
      const slack = (rest[0] as QueuedRequest).deadline - ctx.now - dispatchOverheadMs;
      const need = accuracyPrefix(rest);
      const { cum, fit } = imagePrefix(rest, table.maxBatch);
      for (let j = fit; j >= 1; j = j === 1 ? 0 : Math.max(1, Math.floor(j / 2))) {
        const b = Math.min(cum[j] as number, table.maxBatch);
        // byAccuracy: most accurate first; among equal accuracy a loaded variant costs less
        for (const s of table.byAccuracy) {
          if (s.accuracy < (need[j] as number)) break;
          const load = loadCost(s, loaded);
          const ms = load + table.ms(s.index, b);
          if (ms <= slack) return { decision: { dispatch: { subnet: s.id, requests: rest.slice(0, j), expectedMs: ms, loadMs: load }, drops }, state: null };
        }
      }
      // nothing meets the deadline: the fastest resident variant (or the fastest overall) at batch 1
      const resident = table.subnets.filter((s) => loaded.includes(s.id));
      const s = resident.reduce<SubnetInfo | null>((a, x) => (a === null || table.ms(x.index, 1) < table.ms(a.index, 1) ? x : a), null) ?? (table.fastest(1) as SubnetInfo);
      const load = loadCost(s, loaded);
      return { decision: { dispatch: { subnet: s.id, requests: rest.slice(0, 1), expectedMs: load + table.ms(s.index, Math.min(rest[0]?.size ?? 1, table.maxBatch)), loadMs: load }, drops }, state: null };
    },
    observe: (s) => s,
  };
}
