/**
 * What early exits do to each subnet, for the simulator: a measured exit model
 * (`slackserve-exit-model/1`, made by bench/exits/model.ts from real ramp outputs) says which
 * share of inputs a tuned exit policy answers at each ramp, and how accurate those answers are.
 * The simulator samples each request's exit from the shares and times it with the profile's
 * per-stage latencies; SlackFit gets the same numbers through an ExitView.
 */
import { readFileSync } from 'node:fs';
import { SlackserveError } from '../errors.js';
import type { LatencyTable } from '../scheduler/latency-table.js';
import type { ExitView } from '../scheduler/types.js';

export const EXIT_MODEL_FORMAT = 'slackserve-exit-model/1';

/** One subnet's exits: n ramps (chain order) and the final output (entry n of share/top1). */
export interface SubnetExitModel {
  /** Stage ids of the ramps, chain order. */
  readonly stages: string[];
  /** The tuned policy's thresholds (informational). */
  readonly thresholds?: number[];
  /** share[j] = fraction of inputs answered at ramp j; share[n] = at the final output. Sums to 1. */
  readonly share: number[];
  /** top1[j] = accuracy vs labels of the inputs answered at j (top1[n]: at the final output). */
  readonly top1: number[];
  /** late_top1[k] = ramp k's accuracy on the inputs not answered by ramp k (deadline answers); defaults to top1[n]. */
  readonly late_top1?: number[];
  /** Served answer == final output, over all inputs. */
  readonly agreement: number;
  readonly final_top1?: number;
  readonly eval_inputs?: number;
}

export interface ExitModelFile {
  readonly format: typeof EXIT_MODEL_FORMAT;
  readonly supernet?: string;
  readonly profile?: string;
  readonly source: string;
  readonly policy: Readonly<Record<string, unknown>>;
  readonly command?: string;
  readonly subnets: Record<string, SubnetExitModel>;
}

/** A validated model with cumulative shares ready for sampling. */
export class ExitModel {
  private readonly cum = new Map<string, Float64Array>();

  private constructor(readonly file: ExitModelFile) {
    for (const [id, s] of Object.entries(file.subnets)) {
      const c = new Float64Array(s.share.length);
      let t = 0;
      s.share.forEach((v, j) => (c[j] = t += v));
      c[c.length - 1] = 1; // rounding: the final output takes whatever is left
      this.cum.set(id, c);
    }
  }

  static load(path: string): ExitModel {
    let raw: unknown;
    try {
      raw = JSON.parse(readFileSync(path, 'utf8'));
    } catch (err) {
      throw new SlackserveError('PROFILE_INVALID', `cannot read exit model ${path}: ${(err as Error).message}`);
    }
    return ExitModel.from(raw, path);
  }

  /** Validates a parsed model; `path` names it in errors. */
  static from(raw: unknown, path = '<exit model>'): ExitModel {
    const bad = (msg: string): SlackserveError => new SlackserveError('PROFILE_INVALID', `${path}: ${msg}`);
    if (typeof raw !== 'object' || raw === null) throw bad('not a JSON object');
    const f = raw as Partial<ExitModelFile>;
    if (f.format !== EXIT_MODEL_FORMAT) throw bad(`format must be "${EXIT_MODEL_FORMAT}" (got ${JSON.stringify(f.format)})`);
    if (typeof f.subnets !== 'object' || f.subnets === null || Array.isArray(f.subnets)) throw bad('subnets must be an object (subnet id -> exits)');
    const prob = (v: unknown): boolean => typeof v === 'number' && v >= 0 && v <= 1;
    for (const [id, s] of Object.entries(f.subnets as Record<string, Partial<SubnetExitModel>>)) {
      const at = `subnets["${id}"]`;
      if (typeof s !== 'object' || s === null) throw bad(`${at} must be an object`);
      if (!Array.isArray(s.stages) || s.stages.length === 0 || !s.stages.every((x) => typeof x === 'string')) throw bad(`${at}.stages must be a non-empty list of stage ids`);
      const n = s.stages.length;
      for (const key of ['share', 'top1'] as const) {
        const v = s[key];
        if (!Array.isArray(v) || v.length !== n + 1 || !v.every(prob)) throw bad(`${at}.${key} must hold ${n + 1} numbers in [0, 1] (one per ramp, then the final output)`);
      }
      const sum = (s.share as number[]).reduce((a, b) => a + b, 0);
      if (Math.abs(sum - 1) > 1e-3) throw bad(`${at}.share must sum to 1 (sums to ${sum})`);
      if (s.late_top1 !== undefined && (!Array.isArray(s.late_top1) || s.late_top1.length !== n || !s.late_top1.every(prob)))
        throw bad(`${at}.late_top1 must hold ${n} numbers in [0, 1]`);
      if (!prob(s.agreement)) throw bad(`${at}.agreement must be a number in [0, 1]`);
    }
    return new ExitModel({ source: '', policy: {}, ...f } as ExitModelFile);
  }

  has(id: string): boolean {
    return this.cum.has(id);
  }

  subnet(id: string): SubnetExitModel | undefined {
    return this.file.subnets[id];
  }

  /** Exit index for a uniform draw u in [0, 1): j < n = ramp j, n = the final output. */
  sampleStage(id: string, u: number): number {
    const c = this.cum.get(id);
    if (!c) return -1;
    let j = 0;
    while (j < c.length - 1 && u >= (c[j] as number)) j++;
    return j;
  }

  /** Exit index from a seeded generator (anything with `uniform()`, e.g. SimRng). */
  sample(id: string, rng: { uniform(): number }): number {
    return this.sampleStage(id, rng.uniform());
  }

  /**
   * When the median answer arrives as a fraction of the staged batch latency, at batch `b`:
   * the cumulative stage latency to the exit the median input takes, over the time to the final
   * output. 1 for a subnet the model does not know (or whose stages the table lacks).
   */
  answerFraction(table: LatencyTable, id: string, b: number): number {
    const c = this.cum.get(id);
    if (!c) return 1;
    const cum = table.stageCumMs(table.subnet(id).index, b);
    if (cum.length !== c.length) return 1;
    const j = this.sampleStage(id, 0.5);
    const f = (cum[j] as number) / (cum[cum.length - 1] as number);
    return Number.isFinite(f) && f > 0 ? Math.min(1, f) : 1;
  }

  /**
   * The ExitView SlackFit plans with. The answer fraction depends a little on the batch size; the
   * view uses `batch` (default 16, a typical batch under load, where the planning matters).
   */
  view(table: LatencyTable, batch = 16): ExitView {
    const b = Math.max(1, Math.min(table.maxBatch, batch));
    const frac = new Map<string, number>();
    for (const s of table.subnets) frac.set(s.id, this.answerFraction(table, s.id, b));
    return {
      answerFraction: (id) => frac.get(id) ?? 1,
      agreement: (id) => this.file.subnets[id]?.agreement ?? 1,
    };
  }
}
