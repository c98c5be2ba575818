/**
 * One finished inference call, as the frontend reports it to live views (the dashboard) and the
 * outcome bus. A plain value in the lowest layer, so views need not import the server.
 */
/** One finished call, for live views (the dashboard). */
export interface OutcomeEvent {
  readonly ok: boolean;
  readonly code: string | null;
  readonly sloClass: string;
  readonly met: boolean;
  readonly shed: boolean;
  readonly downgraded: boolean;
  readonly subnet: string | null;
  readonly exit: string | null;
  readonly accuracy: number | null;
  readonly latencyMs: number;
  /** The request's latency budget (its deadline minus its arrival), ms. */
  readonly budgetMs?: number;
  /** Answered at the deadline with the best exit reached so far. */
  readonly deadlineAnswer?: boolean;
  /**
   * Shed although nothing was queued ahead: no subnet meets its own budget or accuracy floor even
   * on an idle server. A shed that says nothing about load (the edge's door limit ignores it).
   */
  readonly infeasible?: boolean;
}
