/** Rules every policy shares: what "cannot make it" means and the accuracy a batch must have. */
import type { Drop, QueuedRequest } from './types.js';

/**
 * Splits the head of the EDF candidates into requests to drop and the rest. A request is dropped
 * when its deadline has passed (always: deadlines are enforced at dequeue) or, with `predictive`,
 * when even `latencyAtB1(r)` from now would end after its deadline and it may be shed.
 */
export function dropHopeless(
  cands: readonly QueuedRequest[],
  now: number,
  predictive: ((r: QueuedRequest) => number) | null,
): { drops: Drop[]; rest: readonly QueuedRequest[] } {
  const drops: Drop[] = [];
  const rest: QueuedRequest[] = [];
  for (const r of cands) {
    if (r.deadline <= now) drops.push({ request: r, reason: 'expired' });
    else if (predictive !== null && r.sheddable && now + predictive(r) > r.deadline) drops.push({ request: r, reason: 'infeasible' });
    else rest.push(r);
  }
  return { drops, rest };
}

/** prefix[b] = the highest minimum accuracy among the first b candidates (prefix[0] = 0). */
export function accuracyPrefix(cands: readonly QueuedRequest[]): Float64Array {
  const out = new Float64Array(cands.length + 1);
  for (let i = 0; i < cands.length; i++) out[i + 1] = Math.max(out[i] as number, (cands[i] as QueuedRequest).minAccuracy);
  return out;
}

/**
 * cum[j] = images in the first j candidates; `fit` = how many of them fit in `maxImages` (at least
 * 1: the edge never admits a request larger than the maximum batch).
 */
export function imagePrefix(cands: readonly QueuedRequest[], maxImages: number): { cum: Int32Array; fit: number } {
  const cum = new Int32Array(cands.length + 1);
  let fit = 0;
  for (let i = 0; i < cands.length; i++) {
    cum[i + 1] = (cum[i] as number) + ((cands[i] as QueuedRequest).size ?? 1);
    if ((cum[i + 1] as number) <= maxImages || i === 0) fit = i + 1;
  }
  return { cum, fit };
}
