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
 * with one wrong answer is not a 0%-accurate batch). The loops themselves, and the per-subnet
 * state they update, are in loops.ts; this class routes to them by subnet and serves the
 * decision-side (live, begin, decide) and read-side (expected latency, accuracy, snapshot) views.
 * Nothing here reads a clock or does I/O: times are passed in, and the state is observable
 * through `snapshot()`.
 */
import { SlackserveError } from '../errors.js';
import type { SubnetEntry } from '../supernet/manifest-types.js';
import type { Profile } from '../supernet/profile-file.js';
import { BatchExits, type ExitHost, type ExitPolicyKind, type FeedbackOutcome, type LiveExitPolicy, type Release } from './batch.js';
import { agrees, type FeedbackRecord } from './feedback.js';
import { latencyAt } from './latency.js';
import { bootstrapState, liveOf, processChunk, replay, type LoopContext, type SubnetState } from './loops.js';
import { makeGrid } from './recall.js';

export { BatchExits, type ExitPolicyKind, type FeedbackOutcome, type Release };
export { DEFAULT_EXIT_SETTINGS, exitSpecs, type EarlyAccuracy, type ExitSettings, type SubnetExitSnapshot, type SubnetExitSpec } from './settings.js';
import { DEFAULT_EXIT_SETTINGS, exitSpecs, type EarlyAccuracy, type ExitSettings, type SubnetExitSnapshot, type SubnetExitSpec } from './settings.js';

export class ExitManager implements ExitHost {
  readonly settings: ExitSettings;
  private readonly states = new Map<string, SubnetState>();
  private readonly grid: Float64Array;
  private readonly loopContext: LoopContext;

  constructor(specs: readonly SubnetExitSpec[], settings: Partial<ExitSettings> = {}) {
    this.settings = { ...DEFAULT_EXIT_SETTINGS, ...settings };
    this.grid = makeGrid(this.settings.gridSize);
    this.loopContext = { settings: this.settings, grid: this.grid };
    for (const spec of specs) this.states.set(spec.id, bootstrapState(spec, this.settings));
  }

  /** Manager for the subnets of a manifest that the profile covers. */
  static fromProfile(subnets: readonly SubnetEntry[], classes: number, profile: Profile, settings: Partial<ExitSettings> = {}): ExitManager {
    return new ExitManager(exitSpecs(subnets, classes, profile), settings);
  }

  private state(subnet: string): SubnetState {
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
  private stageIndex(st: SubnetState, stage: number | string): number {
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
    return liveOf(this.state(subnet), this.grid);
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
      if (st.policy !== 'none') processChunk(this.loopContext, st, chunk, out);
      else st.window.push(chunk);
    }
    return out;
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
      const a = r.exitedAt !== undefined ? r.exitedAt : replay(st, r, this.grid).answer;
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

