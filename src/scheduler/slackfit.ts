/**
 * SlackFit (SuperServe, NSDI '25), as reconstructed in mechanisms.md section 1: the slack of the
 * earliest-deadline request picks a latency bucket; inside it the largest batch the queue can fill
 * runs on the most accurate subnet that fits. At low load slack is large and slow, accurate subnets
 * run; as a burst builds, slack shrinks and fast subnets with big batches drain it. No load
 * prediction at all.
 *
 * Choices the paper leaves open (docs/scheduling.md, "SlackFit"):
 * - Buckets: (subnet, batch) pairs grouped by planning latency into buckets `bucketMs` wide
 *   (bucket k holds latencies in [k*w, (k+1)*w)). The bucket chosen is the highest one holding a
 *   pair that fits: latency <= slack, batch <= queue length, subnet accurate enough for the batch.
 *   Only fitting pairs of that bucket compete, so no slack is lost to the bucket's width; the
 *   bucket still makes "a bigger batch at about the same latency" win over "a slightly slower,
 *   more accurate subnet at a small batch" (tie-break `batch`).
 * - Tie-breaking inside a bucket: `batch` (largest batch, then most accurate subnet; the paper's
 *   reading) or `accuracy` (most accurate subnet, then largest batch).
 * - Minimum accuracy: a batch of the b earliest requests needs a subnet at least as accurate as
 *   the most demanding of them.
 * - Hopeless requests (even the fastest eligible subnet alone would miss) are dropped when
 *   sheddable (`dropInfeasible`), else served late on the fastest subnet at batch 1.
 * - Exits (`exitAware`, with an ExitView in the context): a subnet fits when its median answer
 *   (the fraction of the batch latency at which exits release it) fits the slack, since a request
 *   that does not exit in time still gets a deadline answer; its accuracy for minimum-accuracy
 *   checks is its top-1 times the measured agreement of the served answers with the final output.
 * - Latency calibration (`calibrate`, on by default): plans with profiled latency x the observed/
 *   profiled ratio kept in the policy state (calibration.ts); equivalent to dividing the slack.
 */
import { calibrate, UNCALIBRATED, type Calibration } from './calibration.js';
import { LatencyModel, type LatencyModelOptions, type LatencyModelState } from './latency-model.js';
import { drainDecide } from './slackfit-drain.js';
import { accuracyPrefix, dropHopeless, imagePrefix } from './common.js';
import type { LatencyTable, SubnetInfo } from './latency-table.js';
import type { DecisionContext, Decision, ExitView, Policy, QueuedRequest } from './types.js';

export interface SlackFitOptions {
  /** Width of a latency bucket, ms. */
  readonly bucketMs: number;
  readonly tieBreak: 'batch' | 'accuracy';
  /** Time between a decision and the batch starting (queue hop, tensor copy), ms. */
  readonly dispatchOverheadMs: number;
  readonly dropInfeasible: boolean;
  /** Scale planning latency by the observed/profiled ratio learnt from finished batches. */
  readonly calibrate: boolean;
  /** Plan with the answer latency early exits give (when the context carries an ExitView). */
  readonly exitAware: boolean;
  /**
   * `drain` (default): plan with the online latency model and require pairs to keep up with the
   * arrival rate (slackfit-drain.ts). `paper`: the paper's bucket rule with one calibration ratio.
   */
  readonly rule: 'drain' | 'paper';
  /** drain rule: a pair keeps up when it drains this x the arrival rate (plus the backlog within the slack). */
  readonly drainMargin: number;
  /** drain rule: judge a subnet's throughput at the queued batch, or at its best batch within the slack. */
  readonly drainAt: 'batch' | 'best';
  /** drain rule: the latency model's settings. */
  readonly model: Partial<LatencyModelOptions>;
}

export const SLACKFIT_DEFAULTS: SlackFitOptions = Object.freeze({
  bucketMs: 1,
  tieBreak: 'batch',
  dispatchOverheadMs: 0.2,
  dropInfeasible: true,
  calibrate: true,
  exitAware: true,
  rule: 'drain',
  drainMargin: 1,
  drainAt: 'best',
  model: {},
});

/** SlackFit's explicit state: the paper rule's calibration and the drain rule's latency model. */
export interface SlackFitState {
  readonly cal: Calibration;
  readonly model: LatencyModelState | null;
}

interface Bucket {
  /** Fastest pair in the bucket: no pair of it fits a slack below this. */
  readonly lowerMs: number;
  readonly upperMs: number;
  /** byBatch[b] = subnets whose batch-b latency falls in this bucket, most accurate first. */
  readonly byBatch: readonly (readonly SubnetInfo[])[];
  /** Largest b with a non-empty byBatch[b]. */
  readonly maxB: number;
}

export function buildBuckets(table: LatencyTable, bucketMs: number): Bucket[] {
  const groups = new Map<number, { lower: number; upper: number; byBatch: SubnetInfo[][] }>();
  for (const s of table.byAccuracy)
    for (let b = 1; b <= table.maxBatch; b++) {
      const ms = table.ms(s.index, b);
      const k = Math.floor(ms / bucketMs);
      let g = groups.get(k);
      if (!g) groups.set(k, (g = { lower: Infinity, upper: 0, byBatch: Array.from({ length: table.maxBatch + 1 }, () => []) }));
      g.lower = Math.min(g.lower, ms);
      g.upper = Math.max(g.upper, ms);
      (g.byBatch[b] as SubnetInfo[]).push(s); // byAccuracy order is kept
    }
  return [...groups.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([, g]) => ({ lowerMs: g.lower, upperMs: g.upper, byBatch: g.byBatch, maxB: g.byBatch.findLastIndex((l) => l.length > 0) }));
}

export function slackFit(table: LatencyTable, options: Partial<SlackFitOptions> = {}): Policy<SlackFitState> {
  const o: SlackFitOptions = { ...SLACKFIT_DEFAULTS, ...options };
  if (o.rule === 'drain') return slackFitDrain(table, o);
  const buckets = buildBuckets(table, o.bucketMs);

  /** Index of the highest bucket holding a pair no slower than the slack (-1 when none). */
  const highestFitting = (slack: number): number => {
    let lo = 0;
    let hi = buckets.length - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if ((buckets[mid] as Bucket).lowerMs <= slack) {
        found = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return found;
  };

  /** Most accurate subnet of the list (sorted most accurate first) that fits at batch b. */
  const firstFit = (list: readonly SubnetInfo[], b: number, need: number, slack: number, ex: ExitView | undefined): SubnetInfo | null => {
    for (const s of list) {
      if (s.accuracy < need) return null; // the list is sorted: nothing later is accurate enough
      if (ex && s.accuracy * ex.agreement(s.id) < need) continue;
      if (table.ms(s.index, b) * (ex ? ex.answerFraction(s.id) : 1) <= slack) return s;
    }
    return null;
  };

  /**
   * The best fitting pair of the bucket. Batches are prefixes of the EDF candidates: j requests
   * carrying cum[j] images (the latency depends on images; with one image each, j = b).
   */
  const pickInBucket = (bk: Bucket, cum: Int32Array, fit: number, need: Float64Array, slack: number, ex: ExitView | undefined): { s: SubnetInfo; j: number; b: number } | null => {
    let best: { s: SubnetInfo; j: number; b: number } | null = null;
    for (let j = fit; j >= 1; j--) {
      const b = cum[j] as number;
      if (b > bk.maxB) continue;
      const s = firstFit(bk.byBatch[b] as SubnetInfo[], b, need[j] as number, slack, ex);
      if (s === null) continue;
      if (o.tieBreak === 'batch') return { s, j, b };
      if (best === null || s.accuracy > best.s.accuracy) best = { s, j, b };
    }
    return best;
  };

  const decide = (ctx: DecisionContext, scale: number): Decision => {
    const { now } = ctx;
    const alone = (r: QueuedRequest): number => {
      const b = Math.min(r.size ?? 1, table.maxBatch);
      const s = table.fastest(b, r.minAccuracy) ?? table.fastest(b, 0);
      return o.dispatchOverheadMs + (s ? table.ms(s.index, b) * scale : 0);
    };
    const { drops, rest } = dropHopeless(ctx.queue.earliest(table.maxBatch), now, o.dropInfeasible ? alone : null);
    if (rest.length === 0) return { dispatch: null, drops };
    const head = rest[0] as QueuedRequest;
    // planning with latency x scale is planning with the profiled latency against slack / scale
    const slack = (head.deadline - now - o.dispatchOverheadMs) / scale;
    const need = accuracyPrefix(rest);
    const { cum, fit } = imagePrefix(rest, table.maxBatch);
    const ex = o.exitAware ? ctx.exits : undefined;
    // with exits a slower pair may fit: start from the bucket the most-shortened subnet reaches
    const reach = ex ? slack / Math.max(1e-3, Math.min(...table.subnets.map((x) => ex.answerFraction(x.id)))) : slack;
    for (let k = highestFitting(reach); k >= 0; k--) {
      const pick = pickInBucket(buckets[k] as Bucket, cum, fit, need, slack, ex);
      if (pick) return { dispatch: { subnet: pick.s.id, requests: rest.slice(0, pick.j), expectedMs: table.ms(pick.s.index, pick.b) * scale, loadMs: 0 }, drops };
    }
    // Nothing fits the slack: serve the head alone on the fastest subnet it accepts (late).
    const b1 = Math.min(head.size ?? 1, table.maxBatch);
    const s = table.fastest(b1, head.minAccuracy) ?? table.mostAccurate;
    return { dispatch: { subnet: s.id, requests: [head], expectedMs: table.ms(s.index, b1) * scale, loadMs: 0 }, drops };
  };

  return {
    name: 'slackfit',
    loadsVariants: false,
    init: () => ({ cal: UNCALIBRATED, model: null }),
    decide: (ctx, st) => ({ decision: decide(ctx, o.calibrate ? st.cal.scale : 1), state: st }),
    observe: (st, outcome) => (o.calibrate ? { cal: calibrate(st.cal, table, outcome), model: null } : st),
  };
}

function slackFitDrain(table: LatencyTable, o: SlackFitOptions): Policy<SlackFitState> {
  const model = new LatencyModel(table, o.model);
  const index = new Map(table.subnets.map((s) => [s.id, s.index]));
  return {
    name: 'slackfit',
    loadsVariants: false,
    init: () => ({ cal: UNCALIBRATED, model: model.init() }),
    decide: (ctx, st) => ({ decision: drainDecide(table, model, o, ctx, st.model ?? model.init()), state: st }),
    observe: (st, x) => {
      const m = st.model ?? model.init();
      const observed = model.observe(m, {
        subnetIndex: index.get(x.subnet) ?? -1,
        batch: x.batch,
        latencyMs: x.latencyMs,
        running: x.running ?? 1,
        missed: x.missed,
        requests: x.requests ?? x.batch,
      });
      return { cal: st.cal, model: observed };
    },
  };
}
