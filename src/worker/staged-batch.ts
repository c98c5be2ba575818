/**
 * One batch run stage by stage with early exits (Apparate's serving path). After every stage the
 * exit policy may release rows; a request whose rows are all released is answered at once (a
 * unary call gets its final answer; a stream gets an early answer now and the final one at the
 * end). A request whose deadline arrives before its answer gets the best prediction seen so far,
 * flagged as a deadline answer. The batch always runs to the end so every final output is
 * feedback for the exit loops.
 */
import type { BatchExits, Release } from '../exits/index.js';
import type { InferenceOk, QueuedInference } from '../queue/types.js';
import { argmaxRows, bytesOf } from './tensors.js';

export interface StagedRequest {
  readonly request: QueuedInference;
  /** Rows [first, first + count) of the batch. */
  readonly first: number;
  readonly count: number;
}

interface Track {
  readonly req: StagedRequest;
  readonly rows: (Release | null)[];
  answered: boolean;
  /** The deadline passed before any ramp ran: answer at the next stage. */
  deadlinePending: boolean;
  timer: NodeJS.Timeout | null;
}

export interface StagedBatchOptions {
  readonly subnet: string;
  readonly classes: number;
  readonly exits: BatchExits;
  readonly requests: readonly StagedRequest[];
  readonly start: number;
  readonly clock: () => number;
  readonly worker: string;
  readonly accuracy: number;
  readonly batchImages: number;
  /** Sends an early or deadline answer (the batch keeps running). */
  readonly send: (reply: InferenceOk, req: QueuedInference) => void;
  /** Compute-saving mode: released rows leave the batch, so an early answer is always final. */
  readonly saveCompute?: boolean;
}

export class StagedBatch {
  private readonly tracks: Track[];
  private readonly rowOwner: Int32Array;
  /** Ramp logits per stage index (batch x classes), for answers from an earlier ramp. */
  private readonly stageLogits: Float32Array[] = [];
  /** Releases by exit stage, for metrics. */
  readonly exitsTaken = new Map<string, number>();

  constructor(private readonly o: StagedBatchOptions) {
    this.rowOwner = new Int32Array(o.batchImages);
    this.tracks = o.requests.map((req, i) => {
      this.rowOwner.fill(i, req.first, req.first + req.count);
      return { req, rows: new Array<Release | null>(req.count).fill(null), answered: false, deadlinePending: false, timer: null };
    });
    const now = o.clock();
    for (const t of this.tracks) {
      const wait = t.req.request.deadlineMs - now - 0.5;
      // cleared when the answer goes out or the batch ends; fires only for requests still waiting
      t.timer = setTimeout(() => this.onDeadline(t), Math.max(0, wait));
      t.timer.unref();
    }
  }

  /**
   * A stage's ramp logits: for all rows, or (compute-saving mode) for the original `rows` still
   * running. Returns the original rows of requests answered now (they may leave the batch).
   */
  onStage(stage: string, rampLogits: Float32Array, rows?: Int32Array): number[] {
    let full = rampLogits;
    if (rows !== undefined && rows.length !== this.o.batchImages) {
      // rows that left earlier get zeros: they are released already, so nothing reads them
      const C = this.o.classes;
      full = new Float32Array(this.o.batchImages * C);
      rows.forEach((r, i) => full.set(rampLogits.subarray(i * C, (i + 1) * C), r * C));
    }
    this.stageLogits.push(full);
    const before = this.tracks.map((t) => t.answered);
    for (const r of this.o.exits.stage(stage, full)) this.mark(r);
    for (const t of this.tracks)
      if (t.deadlinePending && !t.answered) {
        for (const r of this.o.exits.deadline(this.o.clock(), this.rowsOf(t))) this.mark(r);
        this.answerIfDone(t, true);
      }
    return this.tracks.flatMap((t, i) => (t.answered && !before[i] ? this.rowsOf(t) : []));
  }

  /** Compute-saving mode: final logits for every row (answered rows get their released ramp's). */
  fullFinal(finalLogits: Float32Array, rows: Int32Array): Float32Array {
    const C = this.o.classes;
    const out = new Float32Array(this.o.batchImages * C);
    for (const t of this.tracks)
      t.rows.forEach((r, k) => {
        if (r) out.set((this.stageLogits[r.ramp] as Float32Array).subarray(r.row * C, (r.row + 1) * C), (t.req.first + k) * C);
      });
    rows.forEach((r, i) => out.set(finalLogits.subarray(i * C, (i + 1) * C), r * C));
    return out;
  }

  /**
   * The batch finished: stops the deadline timers and feeds the final outputs back to the exit
   * loops. Returns, per request, whether it was already answered (unary: nothing more to send).
   */
  finish(finalLogits: Float32Array, rows?: Int32Array): boolean[] {
    for (const t of this.tracks) if (t.timer) clearTimeout(t.timer);
    const done = this.tracks.map((t) => t.answered);
    // the loops (tuning, ramp utilities) may take milliseconds: keep them off the reply path
    setImmediate(() => this.o.exits.finish(finalLogits, undefined, rows));
    return done;
  }

  private rowsOf(t: Track): number[] {
    return Array.from({ length: t.req.count }, (_, i) => t.req.first + i);
  }

  private mark(r: Release): void {
    const t = this.tracks[this.rowOwner[r.row] as number] as Track;
    t.rows[r.row - t.req.first] = r;
    this.exitsTaken.set(r.stage, (this.exitsTaken.get(r.stage) ?? 0) + 1);
    this.answerIfDone(t, r.deadline);
  }

  private onDeadline(t: Track): void {
    t.timer = null;
    if (t.answered) return;
    for (const r of this.o.exits.deadline(this.o.clock(), this.rowsOf(t))) this.mark(r);
    if (!t.answered) t.deadlinePending = true; // no ramp has run yet: answer at the first one
  }

  private answerIfDone(t: Track, deadline: boolean): void {
    if (t.answered || t.rows.some((r) => r === null)) return;
    t.answered = true;
    if (t.timer) clearTimeout(t.timer);
    const C = this.o.classes;
    const releases = t.rows as Release[];
    const logits = new Float32Array(t.req.count * C);
    releases.forEach((r, i) => logits.set((this.stageLogits[r.ramp] as Float32Array).subarray(r.row * C, (r.row + 1) * C), i * C));
    const deepest = releases.reduce((a, r) => (r.ramp > a.ramp ? r : a));
    const now = this.o.clock();
    const q = t.req.request;
    this.o.send(
      {
        id: q.id,
        ok: true,
        final: !q.stream || this.o.saveCompute === true,
        subnet: this.o.subnet,
        exit: deepest.stage,
        logits: bytesOf(logits),
        classes: argmaxRows(logits, t.req.count),
        queueUs: Math.round((this.o.start - q.arrivalMs) * 1000),
        computeUs: Math.round((now - this.o.start) * 1000),
        deadlineMet: now <= q.deadlineMs,
        downgraded: q.downgraded,
        worker: this.o.worker,
        extra: { accuracy: this.o.accuracy, batch: this.o.batchImages, early: true, deadline_answer: deadline || releases.some((r) => r.deadline) },
      },
      q,
    );
  }
}
