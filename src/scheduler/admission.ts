/**
 * Admission at arrival. A request whose deadline no eligible subnet can meet, given the work
 * already queued, is rejected at once (the client learns now, not at its deadline) or downgraded
 * (its minimum accuracy is lifted so a faster subnet may serve it), by configuration.
 *
 * The backlog estimate is deliberately optimistic, so only hopeless requests are turned away: the
 * queue ahead drains at the best throughput any executor can reach (the fastest eligible subnet
 * at the maximum batch) on every executor at once, after the soonest executor frees up.
 */
import type { LatencyTable, SubnetInfo } from './latency-table.js';

export type AdmissionMode = 'off' | 'reject' | 'downgrade';

export interface AdmissionInput {
  readonly now: number;
  readonly deadline: number;
  readonly minAccuracy: number;
  /** Images queued ahead of this one (the server and the simulator both count images: requests may carry several). */
  readonly queuedAhead: number;
  readonly workers: number;
  /** When the soonest busy executor frees up (<= now when one is idle). */
  readonly soonestFree: number;
  readonly dispatchOverheadMs: number;
}

export type AdmissionVerdict = 'accept' | 'reject' | 'downgrade';

function earliestFinish(table: LatencyTable, s: SubnetInfo, a: AdmissionInput): number {
  const B = table.maxBatch;
  const perMs = (B / table.ms(s.index, B)) * a.workers;
  return Math.max(a.now, a.soonestFree) + a.queuedAhead / perMs + a.dispatchOverheadMs + table.ms(s.index, 1);
}

export function admit(table: LatencyTable, mode: AdmissionMode, a: AdmissionInput): AdmissionVerdict {
  if (mode === 'off') return 'accept';
  const eligible = table.fastest(1, a.minAccuracy);
  if (eligible !== null && earliestFinish(table, eligible, a) <= a.deadline) return 'accept';
  if (mode === 'downgrade' && a.minAccuracy > 0) {
    const any = table.fastest(1, 0) as SubnetInfo;
    if (earliestFinish(table, any, a) <= a.deadline) return 'downgrade';
  }
  return 'reject';
}
