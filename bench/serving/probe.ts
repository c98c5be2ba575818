/**
 * In-process probe for bench/serving/edge.ts, loaded into a server with
 *   NODE_OPTIONS=--import=/abs/dist-bench/bench/serving/probe.js SLACKSERVE_PROBE_OUT=/tmp/x.json
 * Main thread only: records every GC pause ('gc' performance entries) and the event-loop delay
 * (monitorEventLoopDelay, 1 ms resolution). On SIGUSR2 it writes the figures since the previous
 * dump (then resets them) to $SLACKSERVE_PROBE_OUT, atomically (temp file + rename). Never writes
 * to stdout or stderr; inert without the variable. Also samples heapUsed at 1 Hz for the window's
 * floor. In a worker thread (the executor threads) it only appends the thread's kernel id to
 * `$SLACKSERVE_PROBE_OUT.tids`, so the bench can tell those threads' CPU from the main thread's and
 * V8's (`threadCpu` in edge-procs.ts).
 */
import { appendFileSync, readlinkSync, renameSync, writeFileSync } from 'node:fs';
import { constants, monitorEventLoopDelay, PerformanceObserver } from 'node:perf_hooks';
import { getHeapStatistics } from 'node:v8';
import { isMainThread } from 'node:worker_threads';

export interface ProbeDump {
  readonly pid: number;
  readonly seq: number;
  /** Window covered, ms (since the previous dump or the start). */
  readonly windowMs: number;
  readonly gc: { readonly count: number; readonly majorCount: number; readonly totalMs: number; readonly p50Ms: number; readonly p99Ms: number; readonly maxMs: number };
  /** Event-loop delay, ms (the histogram's figures, from ns). */
  readonly eventLoop: { readonly p50Ms: number; readonly p99Ms: number; readonly maxMs: number; readonly meanMs: number };
  readonly rssBytes: number;
  readonly heapUsedBytes: number;
  /** Least heapUsed of the 1 Hz samples in the window (the post-GC floor: a leak raises it). */
  readonly heapFloorBytes: number;
}

const quantile = (sorted: readonly number[], q: number): number =>
  sorted.length === 0 ? 0 : (sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] ?? 0);

function install(out: string): void {
  let pauses: number[] = [];
  let majors = 0;
  const gcObs = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      pauses.push(e.duration);
      if ((e as { detail?: { kind?: number } }).detail?.kind === constants.NODE_PERFORMANCE_GC_MAJOR) majors++;
    }
  });
  gcObs.observe({ entryTypes: ['gc'] });
  const loop = monitorEventLoopDelay({ resolution: 1 });
  loop.enable();
  let floor = Infinity;
  setInterval(() => (floor = Math.min(floor, getHeapStatistics().used_heap_size)), 1000).unref();
  let since = performance.now();
  let seq = 0;
  const dump = (): void => {
    const sorted = pauses.sort((a, b) => a - b);
    const mem = process.memoryUsage();
    const now = performance.now();
    const empty = loop.count === 0;
    const d: ProbeDump = {
      pid: process.pid,
      seq: ++seq,
      windowMs: now - since,
      gc: { count: sorted.length, majorCount: majors, totalMs: sorted.reduce((a, b) => a + b, 0), p50Ms: quantile(sorted, 0.5), p99Ms: quantile(sorted, 0.99), maxMs: sorted[sorted.length - 1] ?? 0 },
      eventLoop: empty
        ? { p50Ms: 0, p99Ms: 0, maxMs: 0, meanMs: 0 }
        : { p50Ms: loop.percentile(50) / 1e6, p99Ms: loop.percentile(99) / 1e6, maxMs: loop.max / 1e6, meanMs: loop.mean / 1e6 },
      rssBytes: mem.rss,
      heapUsedBytes: mem.heapUsed,
      heapFloorBytes: Math.min(floor, mem.heapUsed),
    };
    floor = Infinity;
    pauses = [];
    majors = 0;
    loop.reset();
    since = now;
    try {
      writeFileSync(`${out}.tmp`, JSON.stringify(d));
      renameSync(`${out}.tmp`, out);
    } catch {
      // the bench notices the missing dump; the server must not fail because of the probe
    }
  };
  process.on('SIGUSR2', dump);
}

const out = process.env.SLACKSERVE_PROBE_OUT;
if (isMainThread && out) install(out);
else if (out) {
  try {
    // "/proc/thread-self" -> "<pid>/task/<tid>"
    appendFileSync(`${out}.tids`, `${readlinkSync('/proc/thread-self').split('/').pop() ?? ''}\n`);
  } catch {
    // without it the bench reports no per-thread split; the server must not fail because of the probe
  }
}
