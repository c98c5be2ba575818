/**
 * Which timeout a failed request gets (docs/api.md, "Deadlines"): a deadline the client set
 * (gRPC deadline, Triton `timeout`, `slackserve.latency_budget_ms` / `deadline_unix_ms`) that
 * has passed is DEADLINE_EXCEEDED, as gRPC clients expect from their own timeouts; a request the
 * server gave up on while it still had time (shed: admission, or no subnet could finish it), or
 * one that ran out the server's default budget, is DEADLINE_EXPIRED: UNAVAILABLE
 * "Request timeout expired", with a message saying which.
 */
import { SlackserveError } from '../errors.js';
import { DEFAULT_SOURCE, type Slo } from '../api/slo.js';

/** Whether the binding deadline of `slo` was set by the client. */
export function clientSetDeadline(slo: Slo): boolean {
  return slo.sources[0] !== undefined && slo.sources[0] !== DEFAULT_SOURCE;
}

/**
 * The error a DEADLINE_EXPIRED from the queue or a worker becomes at the edge. `workerDeadline`:
 * the deadline the worker enforced (the client's, minus the time to send the answer back); past it
 * the client's deadline has passed for all practical purposes.
 */
export function deadlineOutcome(err: SlackserveError, slo: Slo, workerDeadline: number, now: number): SlackserveError {
  if (err.code !== 'DEADLINE_EXPIRED') return err;
  const waited = Math.max(0, now - slo.arrivalMs).toFixed(1);
  if (clientSetDeadline(slo) && now >= workerDeadline - 1)
    return new SlackserveError(
      'DEADLINE_EXCEEDED',
      // the cause says who gave up: a worker that found it expired, or the frontend's sweep (no answer at all)
      `Deadline exceeded: the request's deadline (${slo.sources[0]}, ${slo.budgetMs.toFixed(1)} ms after arrival) passed after ${waited} ms without an answer (${err.message.replace(/^Request timeout expired: /, '')})`,
      { ...err.details, cause: err.message },
    );
  if (err.message.includes('(shed)') || now < workerDeadline - 1)
    return new SlackserveError('DEADLINE_EXPIRED', `Request timeout expired: shed after ${waited} ms: no subnet could finish it before its deadline (${err.message})`, { ...err.details, shed: true });
  return new SlackserveError('DEADLINE_EXPIRED', `Request timeout expired: the server's default budget of ${slo.budgetMs.toFixed(1)} ms passed (the request set no deadline of its own)`, err.details);
}
