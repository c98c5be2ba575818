/**
 * The overload bench's (overload.ts) figures from its per-call records: per phase the calls
 * admitted and answered within the SLO (timed at the client), shed statuses, the late answers
 * split by the server's own clock, the answers in time, and the recovery after the burst.
 */
import { quantile, type Phase, type Rec } from './overload-procs.js';

/** Each phase's [start, end) on the client's clock (performance.now ms). */
export type PhaseBounds = Record<Phase, [number, number]>;

const r1 = (x: number): number => Math.round(x * 10) / 10;
const med = (xs: number[]): number => r1(quantile(xs, 0.5));

/** Answered OK within the SLO, timed at the client from the send. */
export function withinSlo(r: Rec, sloMs: number): boolean {
  return r.ok === true && r.doneAt !== undefined && r.doneAt - r.sentAt <= sloMs;
}

/**
 * Late only because this client's loop read it late: within the SLO once the client's own
 * staleness at the answer (Rec.staleMs) is taken off (the load generator, not the server).
 */
export function lateByClientStall(r: Rec, sloMs: number): boolean {
  return r.ok === true && r.doneAt !== undefined && !withinSlo(r, sloMs) && r.doneAt - r.sentAt - (r.staleMs ?? 0) <= sloMs;
}

/**
 * Answers the client timed late, split by the server's own timing (server_us: arrival stamp to the
 * reply): over the SLO there, or lost outside its clock (the client, the socket).
 */
function lateBreakdown(late: readonly Rec[], bounds: PhaseBounds, sloMs: number): Record<string, unknown> {
  const timed = late.filter((r) => r.server !== undefined && Number.isFinite(r.server.serverMs));
  const serverLate = timed.filter((r) => r.server!.serverMs > sloMs);
  return {
    count: late.length,
    late_by_server_clock: serverLate.length,
    late_only_at_client: timed.length - serverLate.length,
    // of all late answers: in time but for the client's own loop stall when reading them
    late_by_client_stall: late.filter((r) => lateByClientStall(r, sloMs)).length,
    median_ms: {
      client: med(late.map((r) => r.doneAt! - r.sentAt)),
      client_stale: med(late.map((r) => r.staleMs ?? 0)),
      server: med(timed.map((r) => r.server!.serverMs)),
      queue: med(timed.map((r) => r.server!.queueMs)),
      compute: med(timed.map((r) => r.server!.computeMs)),
      // waiting in the client for a stream (the server's stream limit): outside the server's clock
      ...(late.some((r) => r.queuedMs !== undefined) ? { client_queue: med(late.map((r) => r.queuedMs ?? 0)) } : {}),
    },
    // the first late answers one by one (ms after the phase began), to see which subnet, and
    // which part of the server's time, each one lost
    samples: late.slice(0, 24).map((r) => ({
      at_ms: Math.round(r.sentAt - bounds[r.phase][0]),
      client_ms: r1(r.doneAt! - r.sentAt),
      client_stale_ms: r1(r.staleMs ?? 0),
      ...(r.queuedMs !== undefined ? { client_queue_ms: r1(r.queuedMs) } : {}),
      ...(r.server ? { server_ms: r1(r.server.serverMs), queue_ms: r1(r.server.queueMs), compute_ms: r1(r.server.computeMs), output_ms: r1(r.server.outputMs), subnet: r.server.subnet } : {}),
    })),
  };
}

/** Which subnets answered in time, and their median timings (against the late ones above). */
function inTimeBreakdown(good: readonly Rec[]): Record<string, unknown> {
  const mix: Record<string, number> = {};
  for (const r of good) mix[r.server!.subnet] = (mix[r.server!.subnet] ?? 0) + 1;
  return { subnets: mix, median_ms: { server: med(good.map((r) => r.server!.serverMs)), queue: med(good.map((r) => r.server!.queueMs)), compute: med(good.map((r) => r.server!.computeMs)) } };
}

/** One phase's figures; `offeredRps`: the rate it was asked to send. */
export function phaseSummary(recs: readonly Rec[], phase: Phase, bounds: PhaseBounds, offeredRps: number, sloMs: number): Record<string, unknown> {
  const inSlo = (r: Rec): boolean => withinSlo(r, sloMs);
  const stalled = (r: Rec): boolean => lateByClientStall(r, sloMs);
  const rs = recs.filter((r) => r.phase === phase);
  const [from, to] = bounds[phase];
  const shed: Record<string, number> = {};
  for (const r of rs) if (r.ok === false && r.status) shed[r.status] = (shed[r.status] ?? 0) + 1;
  const admitted = rs.filter((r) => r.ok === true || (r.status !== undefined && !/rejected at admission|Exceeds maximum queue size|retry later|server is draining/.test(r.status)));
  const ok = admitted.filter(inSlo).length;
  return {
    offered_rps: Math.round(offeredRps * 10) / 10,
    sent_rps: Math.round((rs.length / ((to - from) / 1000)) * 10) / 10,
    calls: rs.length,
    admitted: admitted.length,
    admitted_within_slo: ok,
    admitted_within_slo_share: admitted.length > 0 ? Math.round((ok / admitted.length) * 10_000) / 10_000 : null,
    // the same share counting as in time the answers late only by this client's own stall in
    // reading them (late_answers.late_by_client_stall): what the load generator cost the figure
    admitted_within_slo_share_net_of_client_stalls: admitted.length > 0 ? Math.round(((ok + admitted.filter(stalled).length) / admitted.length) * 10_000) / 10_000 : null,
    answered_ok: rs.filter((r) => r.ok === true).length,
    shed_by_status: shed,
    unanswered: rs.filter((r) => r.ok === undefined).length,
    client_p99_late_ms: Math.round(quantile(rs.map((r) => r.lateMs), 0.99) * 10) / 10,
    // calls that waited over 1 ms in the client for a stream: the server lowered or reached its
    // stream limit on this client's connections (shedding: grpcSheddingStreams)
    client_waited_for_stream: rs.filter((r) => (r.queuedMs ?? 0) > 1).length,
    late_answers: lateBreakdown(admitted.filter((r) => r.ok === true && !inSlo(r)), bounds, sloMs),
    in_time: inTimeBreakdown(admitted.filter((r) => inSlo(r) && r.server !== undefined)),
  };
}

/** Recovery: from the burst's end to the first 250 ms window of sends whose calls all met the SLO (ms; null: none). */
export function recoveryAfterBurst(recs: readonly Rec[], bounds: PhaseBounds, sloMs: number): number | null {
  const burstEnd = bounds.burst[1];
  const after = recs.filter((r) => r.phase === 'after');
  for (let w = burstEnd; w < bounds.after[1]; w += 50) {
    const win = after.filter((r) => r.sentAt >= w && r.sentAt < w + 250);
    if (win.length > 0 && win.every((r) => withinSlo(r, sloMs))) return Math.round(w - burstEnd);
  }
  return null;
}
