/** bench/serving/edge-report.ts floorOf: node:http2 plus the executor threads against the grpc-js echo (hand-worked cases). */
import { describe, expect, it } from 'vitest';
import type { RunRecord } from '../../bench/serving/edge-measure.js';
import { floorOf } from '../../bench/serving/edge-report.js';

const run = (cpu: number, threads?: { main: number; workers: number; other: number }): RunRecord =>
  ({
    cpu_us_per_req: cpu,
    cpu_threads: threads ? { serve: { main_us_per_req: threads.main, workers_us_per_req: threads.workers, other_us_per_req: threads.other } } : {},
  }) as unknown as RunRecord;

describe('floorOf', () => {
  it('adds the executor threads to the node:http2 echo and compares the sum with the goal', () => {
    const f = floorOf(1000, run(200), run(130), run(400, { main: 220, workers: 100, other: 80 }));
    expect(f?.floor_cpu_us_per_req).toBe(230);
    expect(f?.floor_ratio_to_echo).toBe(1.15);
    expect(f?.h2echo_ratio_to_echo).toBe(0.65);
    expect(f?.embedded_ratio_to_echo).toBe(2);
    expect(f?.goal_above_floor).toBe(true); // 1.15 <= 1.3: the goal leaves 30 µs above the floor
  });

  it('says when the floor alone is past the goal', () => {
    const f = floorOf(300, run(500), run(420), run(1400, { main: 800, workers: 450, other: 150 }));
    expect(f?.floor_ratio_to_echo).toBe(1.74); // 870 / 500
    expect(f?.goal_above_floor).toBe(false);
  });

  it('needs all three runs and the embedded server\'s thread split', () => {
    expect(floorOf(1000, undefined, run(130), run(400, { main: 1, workers: 1, other: 1 }))).toBeUndefined();
    expect(floorOf(1000, run(200), undefined, run(400, { main: 1, workers: 1, other: 1 }))).toBeUndefined();
    expect(floorOf(1000, run(200), run(130), run(400))).toBeUndefined();
  });
});
