import { describe, expect, it } from 'vitest';
import { LiveStats, quantile } from '../../src/dashboard/live-stats.js';
import type { OutcomeEvent } from '../../src/metrics/outcome-event.js';

const T0 = 1_800_000_000_000;
const ok = (latencyMs: number, over: Partial<OutcomeEvent> = {}): OutcomeEvent => ({
  ok: true, code: null, sloClass: 'default', met: true, shed: false, downgraded: false, subnet: 'a', exit: 'final', accuracy: 0.9, latencyMs, budgetMs: 50, ...over,
});
const fail = (code: string, over: Partial<OutcomeEvent> = {}): OutcomeEvent => ({
  ok: false, code, sloClass: 'default', met: false, shed: false, downgraded: false, subnet: null, exit: null, accuracy: null, latencyMs: 5, budgetMs: 50, ...over,
});

describe('LiveStats: the operator view', () => {
  it('latency p50/p99 of answered calls, the SLO line from budgets, shed and deadline counts', () => {
    const s = new LiveStats(5);
    for (let i = 1; i <= 100; i++) s.record(ok(i, { budgetMs: i <= 60 ? 50 : 80, deadlineAnswer: i % 10 === 0 }), T0 + i);
    s.record(fail('DEADLINE_EXPIRED', { shed: true }), T0 + 200);
    s.record(fail('DEADLINE_EXCEEDED'), T0 + 201);
    s.record(fail('CANCELLED'), T0 + 202);
    const r = s.snapshot(T0 + 300).rolling;
    expect([r.latencyP50, r.latencyP99]).toEqual([50, 99]); // failures carry no latency sample
    expect(r.sloMs).toBe(50);
    expect([r.shed, r.deadlineExceeded, r.deadlineAnswers, r.errors]).toEqual([1, 1, 10, 2]);
    expect(r.throughput).toBeCloseTo(103 / 5);
    expect(r.answered).toBeCloseTo(100 / 5);
  });

  it('forgets what left the window', () => {
    const s = new LiveStats(5);
    s.record(ok(10), T0);
    expect(s.snapshot(T0 + 10_000).rolling.latencyP50).toBeNull();
    expect(quantile([], 0.5)).toBeNull();
    expect(quantile([3, 1, 2], 1)).toBe(3);
  });
});
