/**
 * What the live server costs besides the executor, for a simulator that predicts it (issue 12).
 * Measured on the machine by `bench/scheduling/fidelity.ts --measure` and stored in the profile
 * (`serving`), so `simulate` and the fidelity bench read the same numbers.
 *
 * The model, in short:
 * - The edge (gRPC decode, admission, queueing; the event loop) is one FIFO server. A request
 *   enters the scheduler's queue after it, costing `edge_ms_per_request + images x
 *   edge_ms_per_image` of CPU, slowed when the cores are oversubscribed.
 * - Processor sharing: `cores` cores are shared by the event loop (while it has work), each
 *   running batch (one executor thread each) and the load generator (`client_cores`, when it runs
 *   on the same machine). When more threads want CPU than there are cores, each runs at
 *   cores / demand of full speed. A batch's progress is tracked in profiled milliseconds.
 * - Every batch pays `dispatch_ms` (the hand-off to its thread and back) on top of its profiled
 *   latency; the answer reaches the client `reply_ms` after the batch ends (the reply path).
 */
export interface ServingModel {
  readonly format: 'slackserve-serving/1';
  /** Cores the server (and a local load generator) share. */
  readonly cores: number;
  /** Event-loop CPU per request, ms. */
  readonly edge_ms_per_request: number;
  /** Event-loop CPU per image, ms. */
  readonly edge_ms_per_image: number;
  /** Event-loop busy share with no requests (timers, wake-ups), 0..1 (default 0). */
  readonly edge_busy_base?: number;
  /** Per batch: the hand-off to the executor thread and back, ms. */
  readonly dispatch_ms: number;
  /** From the batch's end to the client having the answer, ms. */
  readonly reply_ms: number;
  /** CPU the load generator uses per request (0 when it runs elsewhere), ms. */
  readonly client_ms_per_request: number;
  /** When and how it was measured. */
  readonly measured?: string;
}

export function parseServingModel(raw: unknown): ServingModel | null {
  if (raw === undefined || raw === null) return null;
  const m = raw as Partial<ServingModel>;
  const nums: (keyof ServingModel)[] = ['cores', 'edge_ms_per_request', 'edge_ms_per_image', 'dispatch_ms', 'reply_ms', 'client_ms_per_request'];
  for (const k of nums) if (typeof m[k] !== 'number' || !Number.isFinite(m[k]) || (m[k] as number) < 0) throw new Error(`serving model: ${k} must be a number >= 0`);
  if ((m.cores as number) < 1) throw new Error('serving model: cores must be >= 1');
  return m as ServingModel;
}

/**
 * Share of full speed each runnable thread gets: `demand` threads want CPU on `cores` cores.
 * The event loop counts as `loop` (0..1, its recent busy share) and the client as its core share.
 */
export function shareOfCore(cores: number, running: number, loop: number, client: number): number {
  const demand = running + loop + client;
  return demand <= cores ? 1 : cores / demand;
}

/**
 * Batches the live server runs at once under load: its event-loop guard (`eventLoopGuardMs` > 0,
 * edge and executors in one process) holds one fewer than the executor threads whenever the event
 * loop lags, which on this machine was nearly always under load (loop-guard.ts). The simulator of
 * that server caps its executors the same way.
 */
export function guardedConcurrency(workers: number, eventLoopGuardMs: number): number {
  return eventLoopGuardMs > 0 && workers > 1 ? workers - 1 : workers;
}
