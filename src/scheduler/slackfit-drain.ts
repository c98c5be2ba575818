/**
 * SlackFit's live rule (`rule: 'drain'`, the default; the paper's rule is `'paper'`).
 *
 * Two changes to the paper's choice, both measured live on this machine (docs/scheduling.md):
 * 1. Pairs are planned with the online latency model (latency-model.ts): profiled median x a
 *    high quantile of observed/profiled for (subnet, batch size, batches running) x headroom,
 *    instead of one global ratio. So a slow subnet is planned slow exactly when it runs slow.
 * 2. Throughput. With 1 ms buckets the paper's rule is "the slowest pair that fits": while slack
 *    is large it runs low-throughput pairs, the queue grows until heads are nearly late, and then
 *    every unmodelled millisecond is a miss. Here a pair must also drain the queue at least as fast
 *    as images arrive with a margin, plus the queued images within the head's slack
 *    (b / median latency x executors >= margin x arrival rate + backlog / slack; with `drainAt:
 *    'best'`, the default, the subnet's best rate at any batch that fits the slack, since its
 *    batches grow to that size under sustained load). When no pair
 *    keeps up, the fitting pair that drains fastest runs; when none fits, the fastest eligible
 *    subnet at the largest batch (the deployment is behind: throughput clears it, and hopeless
 *    heads are shed).
 * Among the pairs that keep up, the paper's bucket rule still chooses (highest bucket, then the
 * tie break), so at low load the choice is the paper's.
 */
import { accuracyPrefix, dropHopeless, imagePrefix } from './common.js';
import type { LatencyModel, LatencyModelState } from './latency-model.js';
import { SIZE_BUCKETS, sizeBucket } from './latency-model.js';
import type { LatencyTable, SubnetInfo } from './latency-table.js';
import type { Decision, DecisionContext, QueuedRequest } from './types.js';

export interface DrainRuleOptions {
  readonly bucketMs: number;
  readonly tieBreak: 'batch' | 'accuracy';
  readonly dispatchOverheadMs: number;
  readonly dropInfeasible: boolean;
  readonly exitAware: boolean;
  /**
   * Keeping up means draining `drainMargin` x the arrival rate plus the queued images within the
   * head's slack. The margin covers what the executor's latency does not show: the event loop and
   * the client share the cores, and every batch costs the event loop too.
   */
  readonly drainMargin: number;
  /**
   * Which throughput a subnet is judged by. `batch`: the pair's own (the images queued now).
   * `best`: the subnet's best within the head's slack, at any batch size up to the largest: under
   * sustained load its batches grow to that size while it runs, so a subnet that keeps up only at
   * a larger batch is not passed over for a faster one because the queue is short at this moment
   * (measured live on square-wave bursts, docs/scheduling.md).
   */
  readonly drainAt: 'batch' | 'best';
}

export function drainDecide(table: LatencyTable, model: LatencyModel, o: DrainRuleOptions, ctx: DecisionContext, st: LatencyModelState): Decision {
  const { now } = ctx;
  const running = (ctx.executor.running ?? 0) + 1;
  const slots = Math.max(1, ctx.executor.workers);
  const rate = ctx.arrivalRate ?? 0;
  // the ratio is constant per (subnet, size bucket) within one decision: look each up once
  const nb = SIZE_BUCKETS;
  const ratio = new Float64Array(table.subnets.length * nb).fill(NaN);
  const median = new Float64Array(table.subnets.length * nb).fill(NaN);
  // batches running slower than their cells expect right now (a burst at the edge): every pair
  const contention = model.contention(st);
  const plan = (s: SubnetInfo, b: number): number => {
    const k = s.index * nb + sizeBucket(b);
    let r = ratio[k] as number;
    if (Number.isNaN(r)) ratio[k] = r = model.ratio(st, s.index, b, running);
    return model.base(s.index, b) * r * contention * st.headroom;
  };
  /** Images per ms one executor drains with this pair, at its typical (median) latency. */
  const drains = (s: SubnetInfo, b: number): number => {
    const k = s.index * nb + sizeBucket(b);
    let r = median[k] as number;
    if (Number.isNaN(r)) median[k] = r = model.median(st, s.index, b, running);
    return b / (model.base(s.index, b) * r * contention);
  };
  /** Per subnet, filled on first use (most decisions never sweep, and allocate nothing here). */
  let bestRate: Float64Array | null = null;
  /** The subnet's best drain rate (images/ms, one executor) at a batch whose plan fits `slackMs`. */
  const bestWithin = (s: SubnetInfo, slackMs: number): number => {
    bestRate ??= new Float64Array(table.subnets.length).fill(NaN);
    let c = bestRate[s.index] as number;
    if (Number.isNaN(c)) {
      c = 0;
      // profiled latency never falls as the batch grows (latency-table.ts): stop at the first batch
      // that does not fit (a larger one fitting again could only come from a noisier model cell)
      for (let bb = 1; bb <= table.maxBatch && plan(s, bb) <= slackMs; bb++) c = Math.max(c, drains(s, bb));
      bestRate[s.index] = c;
    }
    return c;
  };
  const alone = (r: QueuedRequest): number => {
    const b = Math.min(r.size ?? 1, table.maxBatch);
    const s = table.fastest(b, r.minAccuracy) ?? table.fastest(b, 0);
    // hopeless means even the fastest eligible subnet alone misses: planned without headroom
    return o.dispatchOverheadMs + (s ? plan(s, b) / st.headroom : 0);
  };
  const { drops, rest } = dropHopeless(ctx.queue.earliest(table.maxBatch), now, o.dropInfeasible ? alone : null);
  if (rest.length === 0) return { dispatch: null, drops };
  const head = rest[0] as QueuedRequest;
  const slack = head.deadline - now - o.dispatchOverheadMs;
  const need = accuracyPrefix(rest);
  const { cum, fit } = imagePrefix(rest, table.maxBatch);
  const ex = o.exitAware ? ctx.exits : undefined;
  const backlog = ctx.queue.images ?? ctx.queue.length;
  const required = o.drainMargin * rate + backlog / Math.max(slack, 1);
  let chosen: Pick | null = null;
  /** The fitting pair that drains fastest, for when no pair keeps up. */
  let fastest: Pick | null = null;
  for (let j = fit; j >= 1; j--) {
    const b = cum[j] as number;
    if (b > table.maxBatch) continue;
    const needed = need[j] as number;
    let first = true;
    for (const s of table.byAccuracy) {
      if (s.accuracy < needed) break; // most accurate first: nothing later is accurate enough
      if (ex && s.accuracy * ex.agreement(s.id) < needed) continue;
      const ms = plan(s, b);
      const answer = ms * (ex ? ex.answerFraction(s.id) : 1);
      if (answer > slack) continue;
      const pick = { s, j, b, ms, bucket: Math.floor(answer / o.bucketMs) };
      if (fastest === null || b / ms > fastest.b / fastest.ms) fastest = pick;
      // per batch size only the most accurate pair that keeps up competes (a faster, less accurate
      // one could only win the tie break)
      if (!first) continue;
      // the best-batch sweep only when the queued batch alone does not keep up (most decisions at low load)
      if (drains(s, b) * slots < required && !(o.drainAt === 'best' && bestWithin(s, slack) * slots >= required)) continue;
      first = false;
      if (chosen === null || better(o.tieBreak, pick.bucket, b, s.accuracy, chosen)) chosen = pick;
    }
  }
  chosen ??= fastest; // nothing keeps up: the fitting pair that drains fastest
  if (chosen) return { dispatch: { subnet: chosen.s.id, requests: rest.slice(0, chosen.j), expectedMs: chosen.ms, loadMs: 0 }, drops };
  // Nothing fits the head's slack: run at the highest throughput there is (the fastest eligible
  // subnet, every request that fits in a batch) so the backlog clears as soon as it can; serving
  // the head alone would spend a whole batch's fixed cost on one late request.
  const bAll = cum[fit] as number;
  const s = table.fastest(bAll, need[fit] as number) ?? table.mostAccurate;
  return { dispatch: { subnet: s.id, requests: rest.slice(0, fit), expectedMs: plan(s, bAll), loadMs: 0 }, drops };
}

interface Pick {
  readonly s: SubnetInfo;
  readonly j: number;
  readonly b: number;
  readonly ms: number;
  readonly bucket: number;
}

function better(tie: 'batch' | 'accuracy', bucket: number, b: number, acc: number, cur: { bucket: number; b: number; s: SubnetInfo }): boolean {
  if (bucket !== cur.bucket) return bucket > cur.bucket;
  if (tie === 'batch') return b > cur.b || (b === cur.b && acc > cur.s.accuracy);
  return acc > cur.s.accuracy || (acc === cur.s.accuracy && b > cur.b);
}
