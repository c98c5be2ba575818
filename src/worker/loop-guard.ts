/**
 * Keeps a core for the event loop when the edge and the executor threads share one process.
 *
 * On a small machine every executor thread that runs a batch takes a core from the event loop,
 * which decodes requests, answers calls and runs the scheduler. When the event loop falls behind,
 * requests wait before they are even queued and the policy plans with time it cannot see. This
 * guard samples the event loop's delay (perf_hooks) every `sampleMs`; while its 99th percentile,
 * less the longest garbage-collection pause in the window, is above `thresholdMs` the worker runs
 * one batch fewer at once (never fewer than one), and the limit is lifted after `holdMs` of healthy
 * samples.
 *
 * Why GC pauses are taken out: a scavenge stops the event loop for 3-9 ms every few hundred ms
 * under load whatever the executors do, and running one batch fewer does not shorten it. Counted
 * as lag, they held the limit down nearly all the time (measured, 16-image demo trace: SlackFit
 * served 89.9-90.5% with the guard, 91.1% without; the simulator, which has no such guard,
 * predicted 91.0%). What the guard is for, the event loop starved of a core, delays many timer
 * samples in a row and survives the subtraction.
 *
 * GC pauses are reported by PerformanceObserver after the fact, so each window is judged one
 * sample later, when its pauses are known.
 */
import { monitorEventLoopDelay, PerformanceObserver, type IntervalHistogram } from 'node:perf_hooks';

export interface LoopGuardOptions {
  readonly slots: number;
  readonly thresholdMs: number;
  readonly sampleMs?: number;
  readonly holdMs?: number;
  /** Called when the limit rises (the worker may start another batch). */
  readonly onRaise?: () => void;
}

/** A GC pause on the event loop: when it began and how long it stopped the loop (ms, performance clock). */
export interface GcPause {
  readonly start: number;
  readonly ms: number;
}

/**
 * The guard's decision, without I/O: fed one closed window at a time (its bounds on the
 * performance clock, its delay p99, the GC pauses known so far), it keeps the batch limit.
 */
export class LoopGuardPolicy {
  private limitNow: number;
  private healthySince = 0;
  /** Windows judged, windows over the threshold, the last window's p99 and its residual after GC. */
  readonly stats = { samples: 0, over: 0, lastP99Ms: 0, lastResidualMs: 0 };

  constructor(private readonly o: Pick<LoopGuardOptions, 'slots' | 'thresholdMs' | 'holdMs'>) {
    this.limitNow = o.slots;
  }

  get limit(): number {
    return this.limitNow;
  }

  /** Judges the window [start, end]; returns true when the limit rose. */
  window(start: number, end: number, p99Ms: number, pauses: readonly GcPause[]): boolean {
    let gc = 0;
    for (const p of pauses) if (p.start < end && p.start + p.ms > start) gc = Math.max(gc, p.ms);
    const residual = p99Ms - gc;
    this.stats.samples++;
    this.stats.lastP99Ms = p99Ms;
    this.stats.lastResidualMs = residual;
    if (residual > this.o.thresholdMs) {
      this.stats.over++;
      this.healthySince = 0;
      this.limitNow = Math.max(1, this.o.slots - 1);
      return false;
    }
    if (this.limitNow >= this.o.slots) return false;
    if (this.healthySince === 0) this.healthySince = end;
    if (end - this.healthySince >= (this.o.holdMs ?? 1000)) {
      this.limitNow = this.o.slots;
      return true;
    }
    return false;
  }
}

export class LoopGuard {
  private readonly h: IntervalHistogram;
  private readonly timer: NodeJS.Timeout;
  private readonly gcObserver: PerformanceObserver;
  private readonly policy: LoopGuardPolicy;
  /** GC pauses of the last few windows. */
  private pauses: GcPause[] = [];
  /** The window closed at the last sample, judged at the next one. */
  private pending: { readonly start: number; readonly end: number; readonly p99Ms: number } | undefined;
  private windowStart = performance.now();

  constructor(private readonly o: LoopGuardOptions) {
    this.policy = new LoopGuardPolicy(o);
    this.h = monitorEventLoopDelay({ resolution: 2 });
    this.h.enable();
    this.gcObserver = new PerformanceObserver((list) => {
      for (const e of list.getEntries()) this.pauses.push({ start: e.startTime, ms: e.duration });
    });
    this.gcObserver.observe({ entryTypes: ['gc'] });
    const every = o.sampleMs ?? 100;
    this.timer = setInterval(() => this.sample(performance.now()), every);
    this.timer.unref();
  }

  /** Batches the worker may run at once now. */
  get limit(): number {
    return this.policy.limit;
  }

  get stats(): LoopGuardPolicy['stats'] {
    return this.policy.stats;
  }

  private sample(now: number): void {
    const p99Ms = this.h.count > 0 ? this.h.percentile(99) / 1e6 : 0;
    this.h.reset();
    const closed = { start: this.windowStart, end: now, p99Ms };
    this.windowStart = now;
    const judge = this.pending;
    this.pending = closed;
    if (judge === undefined) return;
    const raised = this.policy.window(judge.start, judge.end, judge.p99Ms, this.pauses);
    // keep only the pauses that can still overlap the pending window
    this.pauses = this.pauses.filter((p) => p.start + p.ms > closed.start);
    if (raised) this.o.onRaise?.();
  }

  close(): void {
    clearInterval(this.timer);
    this.h.disable();
    this.gcObserver.disconnect();
  }
}
