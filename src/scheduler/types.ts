/**
 * The scheduler's vocabulary. Policies are pure: a decision is a function of (queue snapshot,
 * latency table, executor state, now, the policy's own explicit state). Nothing here reads a
 * clock or does I/O, so the live worker loop and the simulator run the same code.
 */

/** A queued request as the scheduler sees it. Times are ms on the caller's (injected) clock. */
export interface QueuedRequest {
  /** Opaque key the caller uses to find the request again (an index in the simulator). */
  readonly key: number;
  readonly arrival: number;
  readonly deadline: number;
  /** Minimum top-1 accuracy (0..1) the serving subnet must have; 0 = none. */
  readonly minAccuracy: number;
  /** Triton's meaning: 0 = default, 1 = highest, larger = lower. */
  readonly priority: number;
  /** May the scheduler drop it when it can no longer meet its deadline? */
  readonly sheddable: boolean;
  /** Images the request carries (default 1): batch latency depends on images, not requests. */
  readonly size?: number;
}

/** Read-only view of the pending requests in scheduling order (earliest deadline first). */
export interface QueueView {
  readonly length: number;
  /** Images in the queued requests (requests may carry several); absent = one each. */
  readonly images?: number;
  /** The first `k` requests in scheduling order (fewer if the queue is shorter). */
  earliest(k: number): readonly QueuedRequest[];
}

/** What a policy may know about the executor it is deciding for. */
export interface ExecutorView {
  readonly id: number;
  /** Separately loaded model variants, least recently used first (INFaaS-style executors). */
  readonly loaded: readonly string[];
  /** Number of executors in the deployment (admission estimates the backlog with it). */
  readonly workers: number;
  /** Batches running right now on this deployment's executors (not counting the one being decided). */
  readonly running?: number;
}

export type DropReason = 'expired' | 'infeasible';

export interface Drop {
  readonly request: QueuedRequest;
  readonly reason: DropReason;
}

/** One batch to run: these requests, on this subnet. */
export interface Dispatch {
  readonly subnet: string;
  readonly requests: readonly QueuedRequest[];
  /** The policy's latency estimate for the batch (ms, including any variant load). */
  readonly expectedMs: number;
  /** Variant load time the executor must pay first (0 for a supernet: switching is free). */
  readonly loadMs: number;
}

export interface Decision {
  readonly dispatch: Dispatch | null;
  readonly drops: readonly Drop[];
  /**
   * Set when the policy holds back a batch it could run (a queue delay, queue-delay.ts): ask again
   * at this time, or sooner when requests arrive or a batch finishes.
   */
  readonly retryAt?: number;
}

/** Feedback after a batch finished, for policies that adapt (AIMD). */
export interface BatchOutcome {
  readonly subnet: string;
  /** Images in the batch (what its latency depends on). */
  readonly batch: number;
  readonly latencyMs: number;
  /** Tightest latency budget (deadline - arrival) among the batch's requests. */
  readonly tightestSloMs: number;
  readonly missed: number;
  /** Requests in the batch (a request may carry several images). */
  readonly requests?: number;
  /** Batches running when it was dispatched, itself included. */
  readonly running?: number;
}

/**
 * What early exits do to each subnet, as measured by the exit loops (a snapshot passed in, so the
 * policy stays pure). Absent when exits are off.
 */
export interface ExitView {
  /** When the median answer arrives, as a fraction of the full (staged) batch latency, 0..1. */
  answerFraction(subnet: string): number;
  /** Agreement of the served (possibly early) answers with the final output, 0..1. */
  agreement(subnet: string): number;
}

export interface DecisionContext {
  readonly now: number;
  readonly queue: QueueView;
  readonly executor: ExecutorView;
  readonly exits?: ExitView;
  /** Images arriving per ms over the caller's recent window (throughput-aware policies). */
  readonly arrivalRate?: number;
}

/**
 * A scheduling policy. `S` is its explicit state (AIMD's batch cap...); `decide` and `observe`
 * return a new state instead of mutating, so a run can be replayed from any point.
 */
export interface Policy<S = unknown> {
  readonly name: string;
  /** True when switching subnet loads a separate model (the executor then charges `loadMs`). */
  readonly loadsVariants: boolean;
  init(): S;
  decide(ctx: DecisionContext, state: S): { readonly decision: Decision; readonly state: S };
  observe(state: S, outcome: BatchOutcome): S;
}

export const NO_DECISION: Decision = Object.freeze({ dispatch: null, drops: Object.freeze([]) as readonly Drop[] });
