/**
 * The error a request refused at admission gets: DEADLINE_EXPIRED "Request timeout expired: shed at
 * admission", saying why no eligible subnet could answer in time: no subnet reaches the request's
 * minimum accuracy, its deadline passed before admission (overload), or the images queued ahead of
 * it and the rate they are answered at (backlog.ts). Pure: the frontend records the refusal.
 */
import type { Slo } from '../api/slo.js';
import { SlackserveError } from '../errors.js';
import type { LatencyTable } from '../scheduler/latency-table.js';
import type { AdmissionLoad } from './backlog.js';

/** `workerDeadline`: the deadline admission checked (the client's minus the edge margin). */
export function admissionRefusal(slo: Slo, now: number, workerDeadline: number, load: AdmissionLoad, table: LatencyTable): SlackserveError {
  const rate = load.drainPerMs === undefined ? '' : `, answered at ~${Math.round(load.drainPerMs * 1000)} images/s`;
  const late = now - workerDeadline;
  const why =
    slo.minAccuracy > 0 && table.fastest(1, slo.minAccuracy) === null
      ? `no subnet reaches min_accuracy ${slo.minAccuracy}`
      : late >= 0
        ? `its deadline passed ${late.toFixed(0)} ms before admission: the server is overloaded`
        : `${Math.round(load.imagesAhead)} images queued ahead${rate}`;
  return new SlackserveError(
    'DEADLINE_EXPIRED',
    `Request timeout expired: shed at admission: no eligible subnet can answer within ${Math.max(0, slo.deadlineMs - now).toFixed(1)} ms (${why}); rejected at admission`,
    { admission: 'reject', shed: true },
  );
}
