/**
 * Keeps a core for the event loop when the edge and the executor threads share one process.
 *
 * On a small machine every executor thread that runs a batch takes a core from the event loop,
 * which decodes requests, answers calls and runs the scheduler. When the event loop falls behind,
 * requests wait before they are even queued and the policy plans with time it cannot see. This
 * guard samples the event loop's delay (perf_hooks) every `sampleMs`; while its 99th percentile is
 * above `thresholdMs` the worker runs one batch fewer at once (never fewer than one), and the
 * limit is lifted after `holdMs` of healthy samples.
 */
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';

export interface LoopGuardOptions {
  readonly slots: number;
  readonly thresholdMs: number;
  readonly sampleMs?: number;
  readonly holdMs?: number;
  /** Called when the limit rises (the worker may start another batch). */
  readonly onRaise?: () => void;
}

export class LoopGuard {
  private readonly h: IntervalHistogram;
  private readonly timer: NodeJS.Timeout;
  private limitNow: number;
  private healthySince = 0;
  /** Samples taken and samples over the threshold (for logs and tests). */
  readonly stats = { samples: 0, over: 0, lastP99Ms: 0 };

  constructor(private readonly o: LoopGuardOptions) {
    this.limitNow = o.slots;
    this.h = monitorEventLoopDelay({ resolution: 2 });
    this.h.enable();
    const every = o.sampleMs ?? 100;
    this.timer = setInterval(() => this.sample(performance.now()), every);
    this.timer.unref();
  }

  /** Batches the worker may run at once now. */
  get limit(): number {
    return this.limitNow;
  }

  private sample(now: number): void {
    const p99 = this.h.count > 0 ? this.h.percentile(99) / 1e6 : 0;
    this.h.reset();
    this.stats.samples++;
    this.stats.lastP99Ms = p99;
    if (p99 > this.o.thresholdMs) {
      this.stats.over++;
      this.healthySince = 0;
      this.limitNow = Math.max(1, this.o.slots - 1);
      return;
    }
    if (this.limitNow >= this.o.slots) return;
    if (this.healthySince === 0) this.healthySince = now;
    if (now - this.healthySince >= (this.o.holdMs ?? 1000)) {
      this.limitNow = this.o.slots;
      this.o.onRaise?.();
    }
  }

  close(): void {
    clearInterval(this.timer);
    this.h.disable();
  }
}
