/**
 * One staged batch's per-row exit state: which rows were released, after which stage, with
 * which answer; what every ramp said (for deadline answers and for the feedback at the end).
 * The decisions themselves come from the host's live policy (ExitManager) when each stage
 * arrives, so a batch always uses the thresholds or recall index in force at that moment.
 */
import { SlackserveError } from '../errors.js';
import type { Calibration } from './calibration.js';
import { deadlineAnswer, type RampObservation } from './deadline.js';
import type { FeedbackRecord } from './feedback.js';
import { binOf, type RecallPolicy, type RecallState } from './recall.js';
import { batchConfidence } from './softmax.js';

export type ExitPolicyKind = 'threshold' | 'recall' | 'none';

/** An answer released for one row of a staged batch. */
export interface Release {
  readonly row: number;
  readonly prediction: number;
  /** Ramp (chain index) whose answer is returned. */
  readonly ramp: number;
  readonly stage: string;
  /** Stage (chain index) after which it is released; later than `ramp` when recall answers an earlier ramp. */
  readonly releasedAfter: number;
  /** That ramp's `1 - max softmax`. */
  readonly loss: number;
  /** True for an answer forced by the deadline rather than chosen by the exit policy. */
  readonly deadline: boolean;
  readonly atMs?: number;
}

export interface FeedbackOutcome {
  /** Feedback batches (chunks) completed by this call. */
  readonly chunks: number;
  readonly violations: number;
  /** Ramps (stage ids) switched off in an emergency. */
  readonly emergencyOff: readonly string[];
  readonly retuned: boolean;
  readonly added: readonly string[];
  readonly removed: readonly string[];
}

/** The policy as it stands now, for one subnet. */
export interface LiveExitPolicy {
  readonly policy: ExitPolicyKind;
  /** Threshold policy: tau per ramp (0 = never exits). */
  readonly thresholds: ArrayLike<number>;
  /** Recall policy: null until there is feedback, or while switched off. */
  readonly recall: { readonly policy: RecallPolicy } | null;
  /** Loss calibration (null before any feedback). */
  readonly calibration: Calibration | null;
  readonly grid: Float64Array;
}

/** What a batch needs from its manager. */
export interface ExitHost {
  stageIndexOf(subnet: string, stage: number | string): number;
  live(subnet: string): LiveExitPolicy;
  countDeadline(subnet: string, k: number): void;
  feedback(subnet: string, records: readonly FeedbackRecord[]): FeedbackOutcome;
}

/** The subnet facts a batch needs. */
export interface BatchSubnet {
  readonly id: string;
  readonly stages: readonly string[];
  readonly classes: number;
}

interface RowTrack {
  release: Release | null;
  readonly preds: number[];
  readonly losses: number[];
  recall: RecallState | null;
}

/**
 * Per-row exit state of one staged batch. Stages must be reported in chain order. Decisions use
 * the manager's policy as it is when each stage arrives.
 */
export class BatchExits {
  private readonly tracks: RowTrack[];
  private next = 0;
  private finished = false;

  constructor(
    private readonly host: ExitHost,
    readonly spec: BatchSubnet,
    readonly rows: number,
  ) {
    this.tracks = Array.from({ length: rows }, () => ({ release: null, preds: [], losses: [], recall: null }));
  }

  /** ExitManager.decide without a batch: pretend the earlier stages happened (threshold rule only). */
  skipTo(j: number): void {
    this.next = j;
    for (const t of this.tracks)
      for (let i = 0; i < j; i++) {
        t.preds.push(-1);
        t.losses.push(Infinity);
      }
  }

  /** Stages reported so far. */
  get stagesSeen(): number {
    return this.next;
  }

  /** Ramp logits of the next stage (batch x classes); returns the rows released now. */
  stage(stage: number | string, rampLogits: ArrayLike<number>): Release[] {
    const j = this.host.stageIndexOf(this.spec.id, stage);
    if (j !== this.next) throw new SlackserveError('INPUT_INVALID', `stage ${String(stage)} reported out of order: expected chain index ${this.next}`);
    if (rampLogits.length !== this.rows * this.spec.classes)
      throw new SlackserveError('INPUT_INVALID', `ramp logits of ${rampLogits.length} floats, expected ${this.rows} x ${this.spec.classes}`);
    this.next++;
    const conf = batchConfidence(rampLogits, this.spec.classes);
    const live = this.host.live(this.spec.id);
    const n = this.spec.stages.length;
    const out: Release[] = [];
    for (let row = 0; row < this.rows; row++) {
      const t = this.tracks[row] as RowTrack;
      const pred = conf.pred[row] as number;
      const loss = conf.loss[row] as number;
      t.preds.push(pred);
      t.losses.push(loss);
      if (t.release) continue;
      if (live.policy === 'threshold') {
        if (loss < (live.thresholds[j] as number)) out.push((t.release = this.release(row, j, j, false)));
      } else if (live.recall && live.calibration) {
        const policy = live.recall.policy;
        if (j === 0) t.recall = policy.start();
        if (!t.recall) continue; // the model appeared mid-batch: this row keeps the final answer
        const bin = binOf(live.grid, live.calibration.loss(j, loss));
        if (policy.step(t.recall, j, bin) && j < n) out.push((t.release = this.release(row, t.recall.best, j, false)));
      }
    }
    return out;
  }

  private release(row: number, ramp: number, after: number, deadline: boolean, atMs?: number): Release {
    const t = this.tracks[row] as RowTrack;
    return {
      row,
      prediction: t.preds[ramp] as number,
      ramp,
      stage: this.spec.stages[ramp] as string,
      releasedAfter: after,
      loss: t.losses[ramp] as number,
      deadline,
      ...(atMs !== undefined ? { atMs } : {}),
    };
  }

  /** The release of a row so far (null: not released). */
  released(row: number): Release | null {
    return this.tracks[row]?.release ?? null;
  }

  /**
   * Deadline answers for the given rows (default: all) not yet released: the best answer seen so
   * far (lowest calibrated loss once there is feedback, raw loss before), flagged `deadline`.
   * Rows with no ramp run yet get nothing.
   */
  deadline(nowMs: number, rows?: readonly number[]): Release[] {
    const live = this.host.live(this.spec.id);
    const out: Release[] = [];
    for (const row of rows ?? this.tracks.map((_, i) => i)) {
      const t = this.tracks[row];
      if (!t || t.release) continue;
      const seen: RampObservation[] = [];
      t.preds.forEach((p, j) => {
        if (p < 0) return;
        const raw = t.losses[j] as number;
        seen.push({ ramp: j, prediction: p, loss: live.calibration ? live.calibration.loss(j, raw) : raw });
      });
      const a = deadlineAnswer(seen, nowMs);
      if (!a) continue;
      out.push((t.release = this.release(row, a.ramp, this.next - 1, true, nowMs)));
    }
    this.host.countDeadline(this.spec.id, out.length);
    return out;
  }

  /**
   * The batch finished: the final logits (and labels, when known) complete every row's feedback,
   * which goes to the manager. Returns what the loops did with it. In compute-saving runs only
   * the rows that ran to the end (`rows`, in the order of `finalLogits`) have a final output:
   * only they are feedback.
   */
  finish(finalLogits: ArrayLike<number>, labels?: ArrayLike<number>, rows?: ArrayLike<number>): FeedbackOutcome {
    if (this.finished) throw new SlackserveError('INPUT_INVALID', 'batch already finished');
    if (rows === undefined && this.next !== this.spec.stages.length)
      throw new SlackserveError('INPUT_INVALID', `batch finished after ${this.next} of ${this.spec.stages.length} stages`);
    this.finished = true;
    const fin = batchConfidence(finalLogits, this.spec.classes);
    if (rows !== undefined) {
      if (rows.length === 0) return this.host.feedback(this.spec.id, []);
      // only complete rows are feedback: their chain of ramps ran to the end
      const at = new Map(Array.from(rows, (r, i) => [r, i]));
      const records = [...at.entries()].map(([row, i]) => this.record(row, fin.pred[i] as number, fin.loss[i] as number, labels?.[row]));
      return this.host.feedback(this.spec.id, records);
    }
    const records: FeedbackRecord[] = this.tracks.map((_, row) => this.record(row, fin.pred[row] as number, fin.loss[row] as number, labels?.[row]));
    return this.host.feedback(this.spec.id, records);
  }

  private record(row: number, finalPred: number, finalLoss: number, label: number | undefined): FeedbackRecord {
    const t = this.tracks[row] as RowTrack;
    const r = t.release;
    // deadline answers are not the policy's choice: the loops replay the policy for them
    const policy = r && !r.deadline ? { exitedAt: r.ramp, releasedAfter: r.releasedAfter } : r ? {} : { exitedAt: -1, releasedAfter: -1 };
    return {
      loss: Float64Array.from(t.losses),
      pred: Int32Array.from(t.preds),
      finalPred: finalPred,
      finalLoss: finalLoss,
      ...(label !== undefined ? { label } : {}),
      ...policy,
    };
  }
}
