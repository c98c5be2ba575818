/**
 * The per-subnet loop state behind ExitManager, and everything that writes it: how it starts
 * (from the manifest's ramp statistics) and how each feedback batch ("chunk") moves it — the
 * violation test, then either Apparate's two loops (fast: thresholds, tuner.ts; slow: active
 * ramps, ramps.ts) with the emergency switch-off, or a re-fit of T-Tamer's recall index
 * (recall.ts), then the release-share and accuracy estimates the manager reports.
 *
 * Kept apart from manager.ts so that the adaptation is read in one place, as plain functions of
 * (settings, grid, state, chunk), while the manager only routes: it owns the subnet -> state map,
 * the decision-side API a batch consults, and the read-side views (latency, accuracy, snapshot).
 * Nothing here reads a clock or does I/O.
 */
import type { ExitPolicyKind, LiveExitPolicy } from './batch.js';
import { Calibration } from './calibration.js';
import { agrees, FeedbackWindow, type FeedbackRecord } from './feedback.js';
import { latencyAt, type ExitLatency } from './latency.js';
import { adjustRamps, type RampUtility } from './ramps.js';
import { binOf, buildTransitions, fitLambda, RecallPolicy, solveDynamicIndex, type ChainSample, type DynamicIndex } from './recall.js';
import type { ExitSettings, SubnetExitSpec } from './settings.js';
import { exitRampOf } from './thresholds.js';
import { tuneThresholds, tuningTarget } from './tuner.js';

/** The manager-wide inputs every loop reads. */
export interface LoopContext {
  readonly settings: ExitSettings;
  /** The recall policy's proxy grid (makeGrid(settings.gridSize)). */
  readonly grid: Float64Array;
}

interface RecallModel {
  readonly index: DynamicIndex;
  readonly policy: RecallPolicy;
}

export interface SubnetState {
  readonly spec: SubnetExitSpec;
  readonly policy: ExitPolicyKind;
  readonly n: number;
  readonly lat: ExitLatency;
  readonly rampCost: Float64Array;
  readonly candidates: readonly number[];
  readonly prior: Float64Array;
  readonly window: FeedbackWindow;
  pending: FeedbackRecord[];
  thresholds: Float64Array;
  active: number[];
  history: Map<number, number[]>;
  utilities: Map<number, RampUtility>;
  /** ramp -> feedback count when it was switched off */
  emergency: Map<number, number>;
  recallOffSince: number | null;
  tuned: boolean;
  violations: number;
  consecutive: number;
  emergencies: number;
  tunes: number;
  rampChanges: number;
  sinceTune: number;
  sinceRampCheck: number;
  lastChunkAccuracy: number | null;
  calibration: Calibration | null;
  recall: RecallModel | null;
  /** Share of window inputs released after each stage (index n = not released early) under the current policy. */
  releaseShare: Float64Array;
  windowAccuracy: number;
  deadlineAnswers: number;
}

/** What one chunk changed (FeedbackOutcome without the chunk count, mutable while it is filled). */
export interface ChunkOutcome {
  violations: number;
  emergencyOff: string[];
  retuned: boolean;
  added: string[];
  removed: string[];
}

/** One-sided binomial tail P(X >= k) for X ~ Bin(m, p). */
function binomialTail(k: number, m: number, p: number): number {
  if (k <= 0) return 1;
  if (p <= 0) return 0;
  if (p >= 1) return 1;
  let pmf = Math.pow(1 - p, m);
  let below = 0;
  for (let i = 0; i < k; i++) {
    below += pmf;
    pmf *= ((m - i) / (i + 1)) * (p / (1 - p));
  }
  return Math.max(0, 1 - below);
}

/**
 * Start-up state from the manifest's ramp statistics: the initial active ramps are the ones a
 * prior utility favours (exit rate guessed as 2 * agreement - 1: a ramp agreeing with the final
 * output half the time can release nothing safely, one always agreeing could release all),
 * thresholds start at 0 and are tuned on the first feedback batch, and each ramp's agreement
 * seeds the loss calibration.
 */
export function bootstrapState(spec: SubnetExitSpec, s: ExitSettings): SubnetState {
  const n = spec.stages.length;
  const lat = spec.latency.at(s.tuneBatch);
  const stageMs = spec.latency.stageMs(s.tuneBatch);
  const rampCost = Float64Array.from({ length: n }, (_, j) => s.rampCostFraction * (stageMs[j] as number));
  const candidates = Array.from({ length: n }, (_, j) => j).filter((j) => s.lastRampCandidate || j < n - 1 || n === 1);
  const agreement = (j: number): number => spec.rampStats?.find((r) => r.stage === spec.stages[j])?.agreement ?? 0.5;
  const prior = Float64Array.from({ length: n }, (_, j) => 1 - agreement(j));
  // greedy on the prior utility: each pick saves rate * (next exit point - this ramp)
  const budgetMs = s.ramps.overheadBudget * lat.full;
  let active: number[] = [];
  for (let k = 0; k < s.ramps.maxActive; k++) {
    let best: { j: number; u: number } | null = null;
    for (const j of candidates) {
      if (active.includes(j)) continue;
      const set = [...active, j].sort((a, b) => a - b);
      if (set.reduce((a, i) => a + (rampCost[i] as number), 0) > budgetMs) continue;
      let remaining = 1;
      let u = 0;
      set.forEach((i, idx) => {
        const rate = remaining * Math.max(0, 2 * agreement(i) - 1);
        u += rate * (latencyAt(lat, set[idx + 1] ?? -1) - latencyAt(lat, i)) - (remaining - rate) * (rampCost[i] as number);
        remaining -= rate;
      });
      if (!best || u > best.u) best = { j, u };
    }
    if (!best || best.u <= 0) break;
    active = [...active, best.j].sort((a, b) => a - b);
  }
  const policy = s.policyBySubnet[spec.id] ?? s.policy;
  return {
    spec,
    policy,
    n,
    lat,
    rampCost,
    candidates,
    prior,
    window: new FeedbackWindow(s.windowSamples),
    pending: [],
    thresholds: new Float64Array(n),
    active,
    history: new Map(),
    utilities: new Map(),
    emergency: new Map(),
    recallOffSince: null,
    tuned: false,
    violations: 0,
    consecutive: 0,
    emergencies: 0,
    tunes: 0,
    rampChanges: 0,
    sinceTune: 0,
    sinceRampCheck: 0,
    lastChunkAccuracy: null,
    calibration: null,
    recall: null,
    releaseShare: Float64Array.from({ length: n + 1 }, (_, j) => (j === n ? 1 : 0)),
    windowAccuracy: 1,
    deadlineAnswers: 0,
  };
}

/** The decision state a batch consults when a stage arrives. */
export function liveOf(st: SubnetState, grid: Float64Array): LiveExitPolicy {
  const recall = st.policy === 'recall' && st.recallOffSince === null ? st.recall : null;
  return { policy: st.policy, thresholds: st.thresholds, recall, calibration: st.calibration, grid };
}

/** What the current policy answers for a record: the ramp whose answer is used and the stage after which it is released (-1 = final). */
export function replay(st: SubnetState, r: FeedbackRecord, grid: Float64Array): { answer: number; after: number } {
  if (st.policy === 'threshold') {
    const j = exitRampOf(r.loss, st.thresholds);
    return { answer: j, after: j };
  }
  const live = liveOf(st, grid);
  if (st.policy === 'recall' && live.recall && st.calibration) {
    const bins = binsOf(st, r, grid);
    const { best, last } = live.recall.policy.run(bins);
    return { answer: best >= st.n ? -1 : best, after: last >= st.n ? -1 : last };
  }
  return { answer: -1, after: -1 };
}

function binsOf(st: SubnetState, r: FeedbackRecord, grid: Float64Array): Int32Array {
  const p = (st.calibration as Calibration).proxies(r);
  return Int32Array.from(p, (v) => binOf(grid, v));
}

/** One feedback batch of a subnet whose policy is not 'none'. */
export function processChunk(ctx: LoopContext, st: SubnetState, chunk: FeedbackRecord[], out: ChunkOutcome): void {
  const s = ctx.settings;
  const budget = s.tuner.budget;
  // realized accuracy of this feedback batch (what was released when known, else the current policy)
  const answers = chunk.map((r) => (r.exitedAt !== undefined ? r.exitedAt : replay(st, r, ctx.grid).answer));
  const wrong = chunk.reduce((a, r, i) => a + (agrees(r, answers[i] as number) ? 0 : 1), 0);
  const acc = 1 - wrong / chunk.length;
  st.lastChunkAccuracy = acc;
  st.window.push(chunk);
  st.sinceTune += chunk.length;
  st.sinceRampCheck += chunk.length;
  st.calibration = Calibration.fit(st.window.records(), st.n, { ...s.calibration, prior: st.prior });

  // a shortfall counts only when it is unlikely at the budget's error rate (alpha >= 1: any shortfall)
  const significant = s.violationAlpha >= 1 || binomialTail(wrong, chunk.length, budget) < s.violationAlpha;
  const violation = st.tuned && acc < 1 - budget && significant;
  if (violation) {
    st.violations++;
    st.consecutive++;
    out.violations++;
  } else st.consecutive = 0;

  if (st.window.total < s.warmupSamples) {
    // warming up: keep collecting, release nothing yet
  } else if (st.policy === 'threshold') thresholdLoops(ctx, st, chunk, answers, violation, out);
  else recallLoop(ctx, st, chunk, violation, out);
  refreshEstimates(st, ctx.grid);
}

function retune(ctx: LoopContext, st: SubnetState, also: readonly (readonly FeedbackRecord[])[] = []): void {
  const usable = st.active.filter((j) => !st.emergency.has(j));
  const t = tuneThresholds({ records: st.window.records(), active: usable, latency: st.lat, also }, ctx.settings.tuner);
  st.thresholds = t.thresholds;
  st.tuned = true;
  st.tunes++;
  st.sinceTune = 0;
}

function thresholdLoops(
  ctx: LoopContext,
  st: SubnetState,
  chunk: FeedbackRecord[],
  answers: readonly number[],
  violation: boolean,
  out: { emergencyOff: string[]; retuned: boolean; added: string[]; removed: string[] },
): void {
  const s = ctx.settings;
  const budget = s.tuner.budget;
  if (!st.tuned) {
    retune(ctx, st); // at start
    out.retuned = true;
  } else if (violation && st.consecutive >= s.emergencyAfter) {
    // emergency: the ramps whose released answers in this batch missed the target go off
    const failing = new Set<number>();
    for (const j of st.active) {
      let n = 0;
      let ok = 0;
      chunk.forEach((r, i) => {
        if (answers[i] === j) {
          n++;
          if (agrees(r, j)) ok++;
        }
      });
      if (n > 0 && ok / n < 1 - budget) failing.add(j);
    }
    if (failing.size === 0) for (const j of st.active) if ((st.thresholds[j] as number) > 0) failing.add(j);
    for (const j of failing) {
      st.thresholds[j] = 0;
      st.emergency.set(j, st.window.total);
      out.emergencyOff.push(st.spec.stages[j] as string);
    }
    st.emergencies++;
    st.consecutive = 0;
  } else if (violation) {
    retune(ctx, st, [chunk]); // the window and the violating batch must both be within budget
    out.retuned = true;
  }
  // ramps switched off come back once the window has turned over
  let back = false;
  for (const [j, at] of [...st.emergency])
    if (st.window.total - at >= s.windowSamples) {
      st.emergency.delete(j);
      back = true;
    }
  if (back || st.sinceTune >= s.retuneSamples) {
    retune(ctx, st);
    out.retuned = true;
  }
  // slow loop
  if (st.sinceRampCheck >= s.rampCheckSamples) {
    st.sinceRampCheck = 0;
    const adj = adjustRamps({
      records: st.window.records(),
      thresholds: st.thresholds,
      active: st.active,
      candidates: st.candidates,
      history: st.history,
      latency: st.lat,
      rampCost: st.rampCost,
      blocked: [...st.emergency.keys()],
      tuner: s.tuner,
      settings: s.ramps,
    });
    st.utilities = adj.utilities;
    st.history = adj.history;
    if (adj.added.length > 0 || adj.removed.length > 0) {
      st.active = adj.active;
      for (const j of adj.removed) st.emergency.delete(j);
      st.rampChanges++;
      out.added.push(...adj.added.map((j) => st.spec.stages[j] as string));
      out.removed.push(...adj.removed.map((j) => st.spec.stages[j] as string));
      retune(ctx, st); // after a ramp change
      out.retuned = true;
    }
  }
}

function recallLoop(ctx: LoopContext, st: SubnetState, _chunk: FeedbackRecord[], violation: boolean, out: { emergencyOff: string[]; retuned: boolean }): void {
  const s = ctx.settings;
  if (violation && st.consecutive >= s.emergencyAfter) {
    st.recallOffSince = st.window.total; // early answers off until the window has turned over
    st.emergencies++;
    st.consecutive = 0;
    out.emergencyOff.push(...st.spec.stages);
  }
  if (st.recallOffSince !== null && st.window.total - st.recallOffSince >= s.windowSamples) st.recallOffSince = null;
  const records = st.window.records();
  const samples: ChainSample[] = records.map((r) => ({
    bins: binsOf(st, r, ctx.grid),
    right: Array.from({ length: st.n + 1 }, (_, i) => agrees(r, i < st.n ? i : -1)),
  }));
  const t = buildTransitions(
    samples.map((x) => Float64Array.from(x.bins as Int32Array, (b) => ctx.grid[b] as number)),
    ctx.grid,
    s.smoothing,
  );
  const costs = recallCosts(st);
  const index = s.lambda === 'auto' ? fitLambda(t, costs, samples, tuningTarget(s.tuner)) : solveDynamicIndex(t, costs, s.lambda);
  st.recall = { index, policy: new RecallPolicy(index) };
  st.tuned = true;
  st.tunes++;
  out.retuned = true;
}

/** Cost of each exit of the recall chain (every ramp, then the final), as a fraction of the model's latency. */
function recallCosts(st: SubnetState): Float64Array {
  const c = new Float64Array(st.n + 1);
  let prev = 0;
  for (let i = 0; i <= st.n; i++) {
    const t = latencyAt(st.lat, i < st.n ? i : -1);
    c[i] = (t - prev) / st.lat.full;
    prev = t;
  }
  return c;
}

function refreshEstimates(st: SubnetState, grid: Float64Array): void {
  const records = st.window.records();
  const share = new Float64Array(st.n + 1);
  let agree = 0;
  for (const r of records) {
    const { answer, after } = replay(st, r, grid);
    const k = after < 0 ? st.n : after;
    share[k] = (share[k] as number) + 1 / records.length;
    if (agrees(r, answer)) agree++;
  }
  st.releaseShare = share;
  st.windowAccuracy = records.length ? agree / records.length : 1;
}
