/**
 * The slow loop (Apparate's ramp adjustment): which ramps are active. Every ~128 samples each
 * active ramp's utility is measured on the feedback window,
 *   savings_i  = exitrate_i * (lat_to_exit[next] - lat_to_exit[i])   next = next active ramp, or final
 *   overhead_i = (share reaching ramp i without exiting there) * ramp_cost_i
 *   utility_i  = savings_i - overhead_i                                (ms per input)
 * ramps whose recent utilities are all <= 0 are removed, and one promising ramp may be added.
 *
 * Where this differs from Apparate, and why: Apparate cannot see an inactive ramp's output, so
 * it adds ramps by position heuristics. Here every stage graph computes its ramp anyway and the
 * feedback holds every ramp's answer, so a candidate is judged exactly: re-tune the thresholds
 * with it (in place of the weakest active ramp when the set is full) and keep it if the
 * window's mean latency, ramp overhead included, drops by at least `minGainFraction` of the
 * model's latency. That covers both "add a ramp" and "move a ramp earlier". At most one change
 * per check keeps the loop stable.
 */
import type { FeedbackRecord } from './feedback.js';
import { latencyAt, type ExitLatency } from './latency.js';
import { exitRampOf } from './thresholds.js';
import { tuneThresholds, type TuneResult, type TunerSettings } from './tuner.js';

export interface RampSettings {
  /** Most ramps active at once (Apparate: 3 for CV). */
  readonly maxActive: number;
  /** Total ramp overhead allowed, as a fraction of the model's latency (Apparate: 2-5%). */
  readonly overheadBudget: number;
  /** A ramp is removed when its last `patience` utilities are all <= 0. */
  readonly patience: number;
  /** A candidate is activated only if it cuts mean latency by this fraction of the model's latency. */
  readonly minGainFraction: number;
}

export const DEFAULT_RAMPS: RampSettings = Object.freeze({ maxActive: 3, overheadBudget: 0.05, patience: 2, minGainFraction: 0.01 });

export interface RampUtility {
  /** Share of inputs exiting at this ramp. */
  readonly exitRate: number;
  /** Share of inputs that reach it and do not exit there. */
  readonly passRate: number;
  readonly savingsMs: number;
  readonly overheadMs: number;
  readonly utilityMs: number;
}

export interface UtilityRequest {
  readonly records: readonly FeedbackRecord[];
  /** One per ramp of the chain (0 = never exits). */
  readonly thresholds: ArrayLike<number>;
  readonly active: readonly number[];
  readonly latency: ExitLatency;
  /** Cost of keeping ramp j active, ms, one per ramp of the chain. */
  readonly rampCost: ArrayLike<number>;
}

/** Utility of every active ramp under the given thresholds. */
export function rampUtilities(req: UtilityRequest): Map<number, RampUtility> {
  const active = [...req.active].sort((a, b) => a - b);
  const exitAt = new Map<number, number>(active.map((j) => [j, 0]));
  const reach = new Map<number, number>(active.map((j) => [j, 0]));
  for (const r of req.records) {
    const e = exitRampOf(r.loss, req.thresholds);
    for (const j of active) {
      if (e >= 0 && j > e) break;
      reach.set(j, (reach.get(j) as number) + 1);
    }
    if (e >= 0 && exitAt.has(e)) exitAt.set(e, (exitAt.get(e) as number) + 1);
  }
  const m = req.records.length || 1;
  const out = new Map<number, RampUtility>();
  active.forEach((j, k) => {
    const next = active[k + 1] ?? -1;
    const exitRate = (exitAt.get(j) as number) / m;
    const passRate = ((reach.get(j) as number) - (exitAt.get(j) as number)) / m;
    const savingsMs = exitRate * (latencyAt(req.latency, next) - latencyAt(req.latency, j));
    const overheadMs = passRate * (req.rampCost[j] as number);
    out.set(j, { exitRate, passRate, savingsMs, overheadMs, utilityMs: savingsMs - overheadMs });
  });
  return out;
}

/** Mean latency per input on the records, plus the overhead of every active ramp each input passes. */
export function meanLatencyWithOverhead(req: UtilityRequest): number {
  if (req.records.length === 0) return req.latency.full;
  const active = [...req.active].sort((a, b) => a - b);
  let total = 0;
  for (const r of req.records) {
    const e = exitRampOf(r.loss, req.thresholds);
    total += latencyAt(req.latency, e);
    for (const j of active) {
      if (e >= 0 && j > e) break;
      total += req.rampCost[j] as number;
    }
  }
  return total / req.records.length;
}

export interface AdjustRequest {
  readonly records: readonly FeedbackRecord[];
  readonly thresholds: ArrayLike<number>;
  readonly active: readonly number[];
  /** Ramps that may be activated (chain indices). */
  readonly candidates: readonly number[];
  /** Earlier utilities per ramp, oldest first. */
  readonly history: ReadonlyMap<number, readonly number[]>;
  readonly latency: ExitLatency;
  readonly rampCost: ArrayLike<number>;
  /** Ramps that must not be (re-)activated now (e.g. switched off in an emergency). */
  readonly blocked?: readonly number[];
  readonly tuner: TunerSettings;
  readonly settings: RampSettings;
}

export interface Adjustment {
  readonly active: number[];
  readonly added: number[];
  readonly removed: number[];
  readonly utilities: Map<number, RampUtility>;
  readonly history: Map<number, number[]>;
  /** Thresholds tuned for the new set, when the set changed (the caller adopts them). */
  readonly tuned: TuneResult | null;
}

const HISTORY_KEPT = 8;

export function adjustRamps(req: AdjustRequest): Adjustment {
  const s = req.settings;
  const budgetMs = s.overheadBudget * req.latency.full;
  const cost = (set: readonly number[]): number => set.reduce((a, j) => a + (req.rampCost[j] as number), 0);
  const utilities = rampUtilities(req);
  const history = new Map<number, number[]>();
  for (const j of req.active) history.set(j, [...(req.history.get(j) ?? []), (utilities.get(j) as RampUtility).utilityMs].slice(-HISTORY_KEPT));

  // removal: every recent utility <= 0, then the weakest while over the overhead budget
  const removed = req.active.filter((j) => {
    const h = history.get(j) as number[];
    return h.length >= s.patience && h.slice(-s.patience).every((u) => u <= 0);
  });
  let base = req.active.filter((j) => !removed.includes(j));
  const weakestFirst = (set: readonly number[]): number[] =>
    [...set].sort((a, b) => (utilities.get(a)?.utilityMs ?? 0) - (utilities.get(b)?.utilityMs ?? 0));
  while (cost(base) > budgetMs + 1e-12 || base.length > s.maxActive) {
    const w = weakestFirst(base)[0] as number;
    removed.push(w);
    base = base.filter((j) => j !== w);
  }
  for (const j of removed) history.delete(j);

  // activation: the candidate (added, or swapped for the weakest) that cuts latency the most
  const objective = (set: readonly number[]): { t: TuneResult; ms: number } => {
    const t = tuneThresholds({ records: req.records, active: set, latency: req.latency }, req.tuner);
    return { t, ms: meanLatencyWithOverhead({ ...req, thresholds: t.thresholds, active: set }) };
  };
  const blocked = new Set([...(req.blocked ?? []), ...removed]);
  const pool = req.candidates.filter((k) => !base.includes(k) && !blocked.has(k));
  let tuned: TuneResult | null = null;
  let added: number[] = [];
  if (pool.length > 0 && req.records.length > 0) {
    const now = objective(base);
    let best: { set: number[]; t: TuneResult; gain: number; k: number; out: number | null } | null = null;
    const weakest = base.length >= s.maxActive ? (weakestFirst(base)[0] ?? null) : null;
    for (const k of pool) {
      const set = [...base.filter((j) => j !== weakest), k].sort((a, b) => a - b);
      if (cost(set) > budgetMs + 1e-12) continue;
      const o = objective(set);
      const gain = now.ms - o.ms;
      if (!best || gain > best.gain) best = { set, t: o.t, gain, k, out: weakest };
    }
    if (best && best.gain >= s.minGainFraction * req.latency.full) {
      base = best.set;
      added = [best.k];
      tuned = best.t;
      if (best.out !== null) {
        removed.push(best.out);
        history.delete(best.out);
      }
    } else if (removed.length > 0) tuned = now.t;
  } else if (removed.length > 0) tuned = tuneThresholds({ records: req.records, active: base, latency: req.latency }, req.tuner);
  return { active: [...base].sort((a, b) => a - b), added, removed, utilities, history, tuned };
}
