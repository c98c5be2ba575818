/** What a replay records: one row per request, and what the threads report while running. */

export type Outcome = 'ok' | 'error';

export interface RequestRecord {
  /** Index of the request in the (scaled) trace. */
  readonly i: number;
  /** Scheduled send time, ms from the replay start. */
  readonly scheduledMs: number;
  /** How late the send was against the schedule (client falling behind), ms. */
  readonly behindMs: number;
  /** Send to final answer (or error), ms. */
  readonly latencyMs: number;
  readonly sloMs: number;
  readonly sloClass: string;
  readonly outcome: Outcome;
  /** gRPC status name for errors (UNAVAILABLE, INVALID_ARGUMENT...), 'OK' otherwise. */
  readonly status: string;
  readonly message: string;
  readonly subnet: string;
  readonly exit: string;
  readonly predicted: number;
  readonly label: number;
  readonly queueUs: number;
  readonly computeUs: number;
  readonly downgraded: boolean;
  readonly deadlineAnswer: boolean;
  /** The server's own verdict (answer finished before the deadline it computed). */
  readonly serverDeadlineMet: boolean;
}

export interface ThreadProgress {
  readonly sent: number;
  readonly done: number;
  readonly met: number;
  readonly maxBehindMs: number;
}

/** A request as the replay threads receive it. */
export interface ReplayRequest {
  readonly i: number;
  readonly t_ms: number;
  readonly slo_ms: number;
  readonly min_accuracy: number | null;
  readonly priority: number;
  readonly class: string;
  /** Index of the test image it sends. */
  readonly image: number;
}
