/**
 * The edge margin, measured: how long before the client's deadline the worker must finish so that
 * the answer still reaches the client in time. A fixed `edgeMarginMs` (5 ms) covers a calm
 * machine; under a burst the reply path (the worker's reply, the queue hop back, this process's
 * event loop reading it) took 20-40 ms in the overload bench, and SlackFit, planning against a
 * deadline only 5 ms short of the client's, spent that time on slower subnets and answered late.
 *
 * So the margin is the configured quantile of the reply path over the answers of the last
 * `windowMs`, never below `floorMs` (the fixed margin). The caller caps it (a quarter of the
 * call's budget). Old samples age out, so the margin falls back to the floor within a window of
 * the burst ending. Pure bookkeeping: the caller passes the clock.
 */
import type { ServedBy } from '../api/types.js';

/**
 * An answer's reply path inside the server, ms: from its batch's end to its arrival at the
 * frontend (arrival-to-answer time less queue and compute); undefined for answers without
 * `serverUs` (early answers).
 */
export function replyPathMs(sb: ServedBy): number | undefined {
  return sb.serverUs === undefined ? undefined : Math.max(0, sb.serverUs - sb.queueUs - sb.computeUs) / 1000;
}

export interface ReplyMarginOptions {
  /** Quantile of the reply path (0 < q < 1); 0 turns the measured margin off (the floor alone). */
  readonly quantile: number;
  /** Answers older than this no longer count, ms. */
  readonly windowMs: number;
  /** The least margin, ms (`edgeMarginMs`). */
  readonly floorMs: number;
  /** Most recent answers kept. */
  readonly samples?: number;
  /** The quantile is recomputed at most this often, ms (it sorts the samples). */
  readonly refreshMs?: number;
}

export class ReplyMargin {
  private readonly at: Float64Array;
  private readonly ms: Float64Array;
  private next = 0;
  private count = 0;
  private cached: number;
  private cachedAt = -Infinity;
  private readonly refreshMs: number;

  constructor(private readonly o: ReplyMarginOptions) {
    const n = Math.max(8, o.samples ?? 256);
    this.at = new Float64Array(n);
    this.ms = new Float64Array(n);
    this.cached = o.floorMs;
    this.refreshMs = o.refreshMs ?? 20;
  }

  /** An answer reached this process `replyMs` after its batch ended. */
  observe(now: number, replyMs: number): void {
    if (!(this.o.quantile > 0) || !Number.isFinite(replyMs)) return;
    this.at[this.next] = now;
    this.ms[this.next] = Math.max(0, replyMs);
    this.next = (this.next + 1) % this.at.length;
    this.count = Math.min(this.count + 1, this.at.length);
  }

  /** The margin to plan with now, ms (>= floorMs). */
  marginMs(now: number): number {
    if (!(this.o.quantile > 0)) return this.o.floorMs;
    if (now - this.cachedAt < this.refreshMs) return this.cached;
    const recent: number[] = [];
    for (let i = 0; i < this.count; i++) if (now - (this.at[i] as number) <= this.o.windowMs) recent.push(this.ms[i] as number);
    let m = this.o.floorMs;
    if (recent.length > 0) {
      recent.sort((a, b) => a - b);
      m = Math.max(m, recent[Math.min(recent.length - 1, Math.floor(this.o.quantile * recent.length))] as number);
    }
    this.cached = m;
    this.cachedAt = now;
    return m;
  }
}
