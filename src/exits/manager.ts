/**
 * ExitManager: the early-exit state of every served subnet, and the API the worker loop uses
 * around a staged batch:
 *
 *   const b = exits.begin(subnet, rows);
 *   executor.run(images, subnet, { mode: 'staged', onStage: (stage, logits) => {
 *     for (const r of b.stage(stage, logits)) answer(r.row, r.prediction);   // released early
 *   }});
 *   // a request whose deadline comes first: b.deadline(now, [row]) -> best answer seen, flagged
 *   b.finish(result.logits);            // every row is feedback (the batch ran to the end)
 *
 * Per subnet it runs Apparate's two loops (thresholds: tuner.ts; active ramps: ramps.ts) or
 * T-Tamer's recall policy (recall.ts), on a window of feedback processed in chunks ("feedback
 * batches" of `chunkSamples` inputs, independent of the serving batch size, so that a batch of 1
 * with one wrong answer is not a 0%-accurate batch). Nothing here reads a clock or does I/O:
 * times are passed in, and the state is observable through `snapshot()`.
 */
import { SlackserveError } from '../errors.js';
import type { SubnetEntry } from '../supernet/manifest-types.js';
import type { Profile } from '../supernet/profile-file.js';
import { Calibration } from './calibration.js';
import { BatchExits, type ExitHost, type ExitPolicyKind, type FeedbackOutcome, type LiveExitPolicy, type Release } from './batch.js';
import { agrees, FeedbackWindow, type FeedbackRecord } from './feedback.js';
import { latencyAt, type ExitLatency } from './latency.js';
import { adjustRamps, type RampUtility } from './ramps.js';
import { binOf, buildTransitions, fitLambda, makeGrid, RecallPolicy, solveDynamicIndex, type ChainSample, type DynamicIndex } from './recall.js';
import { exitRampOf } from './thresholds.js';
import { tuneThresholds, tuningTarget } from './tuner.js';

export { BatchExits, type ExitPolicyKind, type FeedbackOutcome, type Release };
export { DEFAULT_EXIT_SETTINGS, exitSpecs, type EarlyAccuracy, type ExitSettings, type SubnetExitSnapshot, type SubnetExitSpec } from './settings.js';
import { DEFAULT_EXIT_SETTINGS, exitSpecs, type EarlyAccuracy, type ExitSettings, type SubnetExitSnapshot, type SubnetExitSpec } from './settings.js';

interface RecallModel {
  readonly index: DynamicIndex;
  readonly policy: RecallPolicy;
}

interface State {
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

export class ExitManager implements ExitHost {
  readonly settings: ExitSettings;
  private readonly states = new Map<string, State>();
  private readonly grid: Float64Array;

  constructor(specs: readonly SubnetExitSpec[], settings: Partial<ExitSettings> = {}) {
    this.settings = { ...DEFAULT_EXIT_SETTINGS, ...settings };
    this.grid = makeGrid(this.settings.gridSize);
    for (const spec of specs) this.states.set(spec.id, this.bootstrap(spec));
  }

  /** Manager for the subnets of a manifest that the profile covers. */
  static fromProfile(subnets: readonly SubnetEntry[], classes: number, profile: Profile, settings: Partial<ExitSettings> = {}): ExitManager {
    return new ExitManager(exitSpecs(subnets, classes, profile), settings);
  }

  /**
   * Start-up state from the manifest's ramp statistics: the initial active ramps are the ones a
   * prior utility favours (exit rate guessed as 2 * agreement - 1: a ramp agreeing with the final
   * output half the time can release nothing safely, one always agreeing could release all),
   * thresholds start at 0 and are tuned on the first feedback batch, and each ramp's agreement
   * seeds the loss calibration.
   */
  private bootstrap(spec: SubnetExitSpec): State {
    const s = this.settings;
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

  private state(subnet: string): State {
    const st = this.states.get(subnet);
    if (!st) throw new SlackserveError('SUBNET_UNKNOWN', `no exit state for subnet "${subnet}" (not in the profile?)`, { id: subnet });
    return st;
  }

  has(subnet: string): boolean {
    return this.states.has(subnet);
  }

  get subnets(): string[] {
    return [...this.states.keys()];
  }

  policyOf(subnet: string): ExitPolicyKind {
    return this.state(subnet).policy;
  }

  /** Per-row state for one staged batch of `rows` inputs. */
  begin(subnet: string, rows: number): BatchExits {
    return new BatchExits(this, this.state(subnet).spec, rows);
  }

  /**
   * Rows that leave at this stage. With `batch` (from `begin`) the decision follows every row
   * through the batch (needed by the recall policy, and to skip rows already released). Without
   * it only the threshold rule can be applied (it looks at this ramp alone), and the caller must
   * ignore rows it already released.
   */
  decide(subnet: string, stage: number | string, rampLogits: ArrayLike<number>, batch?: BatchExits): Release[] {
    const st = this.state(subnet);
    if (batch) return batch.stage(stage, rampLogits);
    if (st.policy === 'recall') throw new SlackserveError('INPUT_INVALID', 'the recall policy follows each row across stages: pass the BatchExits from begin()');
    const rows = Math.floor(rampLogits.length / st.spec.classes);
    const b = new BatchExits(this, st.spec, rows);
    b.skipTo(this.stageIndex(st, stage));
    return b.stage(stage, rampLogits);
  }

  /** Chain index of a stage given by index or id. */
  private stageIndex(st: State, stage: number | string): number {
    const j = typeof stage === 'number' ? stage : st.spec.stages.indexOf(stage);
    if (!Number.isInteger(j) || j < 0 || j >= st.n)
      throw new SlackserveError('INPUT_INVALID', `stage ${String(stage)} is not in the chain of ${st.spec.id} [${st.spec.stages.join(', ')}]`);
    return j;
  }

  /** Chain index of a stage of `subnet` given by index or id (for BatchExits). */
  stageIndexOf(subnet: string, stage: number | string): number {
    return this.stageIndex(this.state(subnet), stage);
  }

  /** The decision state a batch consults when a stage arrives (for BatchExits). */
  live(subnet: string): LiveExitPolicy {
    const st = this.state(subnet);
    const recall = st.policy === 'recall' && st.recallOffSince === null ? st.recall : null;
    return { policy: st.policy, thresholds: st.thresholds, recall, calibration: st.calibration, grid: this.grid };
  }

  /** Counts deadline answers (for BatchExits). */
  countDeadline(subnet: string, k: number): void {
    this.state(subnet).deadlineAnswers += k;
  }

  /**
   * Feedback for inputs of `subnet` (any number; processed in chunks of `chunkSamples`). Each
   * record carries every ramp's answer and the final answer; `exitedAt` says what was released.
   */
  feedback(subnet: string, records: readonly FeedbackRecord[]): FeedbackOutcome {
    const st = this.state(subnet);
    for (const r of records)
      if (r.loss.length !== st.n || r.pred.length !== st.n)
        throw new SlackserveError('INPUT_INVALID', `feedback for ${subnet} must have ${st.n} ramps, got ${r.loss.length}`);
    st.pending.push(...records);
    const out = { chunks: 0, violations: 0, emergencyOff: [] as string[], retuned: false, added: [] as string[], removed: [] as string[] };
    while (st.pending.length >= this.settings.chunkSamples) {
      const chunk = st.pending.splice(0, this.settings.chunkSamples);
      out.chunks++;
      if (st.policy !== 'none') this.processChunk(st, chunk, out);
      else st.window.push(chunk);
    }
    return out;
  }

  /** What the current policy answers for a record: the ramp whose answer is used and the stage after which it is released (-1 = final). */
  private replay(st: State, r: FeedbackRecord): { answer: number; after: number } {
    if (st.policy === 'threshold') {
      const j = exitRampOf(r.loss, st.thresholds);
      return { answer: j, after: j };
    }
    const live = this.live(st.spec.id);
    if (st.policy === 'recall' && live.recall && st.calibration) {
      const bins = this.binsOf(st, r);
      const { best, last } = live.recall.policy.run(bins);
      return { answer: best >= st.n ? -1 : best, after: last >= st.n ? -1 : last };
    }
    return { answer: -1, after: -1 };
  }

  private binsOf(st: State, r: FeedbackRecord): Int32Array {
    const p = (st.calibration as Calibration).proxies(r);
    return Int32Array.from(p, (v) => binOf(this.grid, v));
  }

  private processChunk(st: State, chunk: FeedbackRecord[], out: { violations: number; emergencyOff: string[]; retuned: boolean; added: string[]; removed: string[] }): void {
    const s = this.settings;
    const budget = s.tuner.budget;
    // realized accuracy of this feedback batch (what was released when known, else the current policy)
    const answers = chunk.map((r) => (r.exitedAt !== undefined ? r.exitedAt : this.replay(st, r).answer));
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
    } else if (st.policy === 'threshold') this.thresholdLoops(st, chunk, answers, violation, out);
    else this.recallLoop(st, chunk, violation, out);
    this.refreshEstimates(st);
  }

  private retune(st: State, also: readonly (readonly FeedbackRecord[])[] = []): void {
    const usable = st.active.filter((j) => !st.emergency.has(j));
    const t = tuneThresholds({ records: st.window.records(), active: usable, latency: st.lat, also }, this.settings.tuner);
    st.thresholds = t.thresholds;
    st.tuned = true;
    st.tunes++;
    st.sinceTune = 0;
  }

  private thresholdLoops(
    st: State,
    chunk: FeedbackRecord[],
    answers: readonly number[],
    violation: boolean,
    out: { emergencyOff: string[]; retuned: boolean; added: string[]; removed: string[] },
  ): void {
    const s = this.settings;
    const budget = s.tuner.budget;
    if (!st.tuned) {
      this.retune(st); // at start
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
      this.retune(st, [chunk]); // the window and the violating batch must both be within budget
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
      this.retune(st);
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
        this.retune(st); // after a ramp change
        out.retuned = true;
      }
    }
  }

  private recallLoop(st: State, _chunk: FeedbackRecord[], violation: boolean, out: { emergencyOff: string[]; retuned: boolean }): void {
    const s = this.settings;
    if (violation && st.consecutive >= s.emergencyAfter) {
      st.recallOffSince = st.window.total; // early answers off until the window has turned over
      st.emergencies++;
      st.consecutive = 0;
      out.emergencyOff.push(...st.spec.stages);
    }
    if (st.recallOffSince !== null && st.window.total - st.recallOffSince >= s.windowSamples) st.recallOffSince = null;
    const records = st.window.records();
    const samples: ChainSample[] = records.map((r) => ({
      bins: this.binsOf(st, r),
      right: Array.from({ length: st.n + 1 }, (_, i) => agrees(r, i < st.n ? i : -1)),
    }));
    const t = buildTransitions(
      samples.map((x) => Float64Array.from(x.bins as Int32Array, (b) => this.grid[b] as number)),
      this.grid,
      s.smoothing,
    );
    const costs = this.recallCosts(st);
    const index = s.lambda === 'auto' ? fitLambda(t, costs, samples, tuningTarget(s.tuner)) : solveDynamicIndex(t, costs, s.lambda);
    st.recall = { index, policy: new RecallPolicy(index) };
    st.tuned = true;
    st.tunes++;
    out.retuned = true;
  }

  /** Cost of each exit of the recall chain (every ramp, then the final), as a fraction of the model's latency. */
  private recallCosts(st: State): Float64Array {
    const c = new Float64Array(st.n + 1);
    let prev = 0;
    for (let i = 0; i <= st.n; i++) {
      const t = latencyAt(st.lat, i < st.n ? i : -1);
      c[i] = (t - prev) / st.lat.full;
      prev = t;
    }
    return c;
  }

  private refreshEstimates(st: State): void {
    const records = st.window.records();
    const share = new Float64Array(st.n + 1);
    let agree = 0;
    for (const r of records) {
      const { answer, after } = this.replay(st, r);
      const k = after < 0 ? st.n : after;
      share[k] = (share[k] as number) + 1 / records.length;
      if (agrees(r, answer)) agree++;
    }
    st.releaseShare = share;
    st.windowAccuracy = records.length ? agree / records.length : 1;
  }

  /**
   * Expected latency of a request on `subnet` in a batch of `batch`: the distribution of the
   * release stage under the current policy on recent feedback, times the cumulative stage latency
   * at that batch size. With `quantile`, that quantile of the distribution instead of the mean.
   * (The executor itself is still busy for the whole batch: the batch runs to the end.)
   */
  expectedLatencyMs(subnet: string, batch: number, quantile?: number): number {
    const st = this.state(subnet);
    const lat = st.spec.latency.at(batch);
    const share = st.policy === 'none' ? Float64Array.from({ length: st.n + 1 }, (_, j) => (j === st.n ? 1 : 0)) : st.releaseShare;
    const at = (k: number): number => latencyAt(lat, k === st.n ? -1 : k);
    if (quantile === undefined) return share.reduce((a, p, k) => a + p * at(k), 0);
    let cum = 0;
    for (let k = 0; k <= st.n; k++) {
      cum += share[k] as number;
      if (cum >= quantile - 1e-12) return at(k);
    }
    return lat.full;
  }

  /** Accuracy of the answers actually released (early or final) over the window. */
  earlyAccuracy(subnet: string): EarlyAccuracy {
    const st = this.state(subnet);
    const records = st.window.records();
    let early = 0;
    let agree = 0;
    let labelled = 0;
    let right = 0;
    let finalRight = 0;
    for (const r of records) {
      const a = r.exitedAt !== undefined ? r.exitedAt : this.replay(st, r).answer;
      if (a >= 0) early++;
      if (agrees(r, a)) agree++;
      if (r.label !== undefined) {
        labelled++;
        if ((a >= 0 ? r.pred[a] : r.finalPred) === r.label) right++;
        if (r.finalPred === r.label) finalRight++;
      }
    }
    const m = records.length || 1;
    return {
      samples: records.length,
      earlyShare: early / m,
      vsFinal: records.length ? agree / m : 1,
      vsLabels: labelled ? right / labelled : null,
      finalVsLabels: labelled ? finalRight / labelled : null,
    };
  }

  snapshotOf(subnet: string): SubnetExitSnapshot {
    const st = this.state(subnet);
    const name = (j: number): string => st.spec.stages[j] as string;
    return {
      subnet,
      policy: st.policy,
      feedback: st.window.total,
      window: st.window.size,
      thresholds: Object.fromEntries(st.spec.stages.map((id, j) => [id, st.policy === 'threshold' ? (st.thresholds[j] as number) : 0])),
      active: st.policy === 'threshold' ? st.active.map(name) : st.policy === 'recall' ? [...st.spec.stages] : [],
      emergencyOff: st.policy === 'recall' && st.recallOffSince !== null ? [...st.spec.stages] : [...st.emergency.keys()].map(name),
      windowAccuracy: st.windowAccuracy,
      lastChunkAccuracy: st.lastChunkAccuracy,
      violations: st.violations,
      consecutiveViolations: st.consecutive,
      emergencies: st.emergencies,
      tunes: st.tunes,
      rampChanges: st.rampChanges,
      utilities: Object.fromEntries([...st.utilities].map(([j, u]) => [name(j), u])),
      lambda: st.recall?.index.lambda ?? null,
      deadlineAnswers: st.deadlineAnswers,
      expectedLatencyMs: this.expectedLatencyMs(subnet, this.settings.tuneBatch),
      fullLatencyMs: st.lat.full,
      accuracy: this.earlyAccuracy(subnet),
    };
  }

  /** Every subnet's loop state (JSON-serialisable). */
  snapshot(): SubnetExitSnapshot[] {
    return this.subnets.map((id) => this.snapshotOf(id));
  }
}

