/**
 * The event-loop guard: lag that a GC pause explains does not lower the batch limit (running
 * fewer batches cannot shorten a pause); lag beyond it does; the limit comes back after the hold.
 * The policy is fed windows by hand; the I/O wrapper is checked against a really blocked loop.
 */
import { describe, expect, it } from 'vitest';
import { LoopGuard, LoopGuardPolicy } from '../../src/worker/loop-guard.js';

describe('LoopGuardPolicy', () => {
  const mk = (): LoopGuardPolicy => new LoopGuardPolicy({ slots: 2, thresholdMs: 4, holdMs: 1000 });

  it('does not count a window whose lag a GC pause in it explains', () => {
    const g = mk();
    g.window(0, 100, 7.5, [{ start: 40, ms: 6 }]);
    expect(g.limit).toBe(2);
    expect(g.stats.lastResidualMs).toBeCloseTo(1.5);
  });

  it('counts lag beyond the longest pause, and a pause outside the window excuses nothing', () => {
    const g = mk();
    g.window(0, 100, 12, [{ start: 40, ms: 6 }]);
    expect(g.limit).toBe(1);
    const h = mk();
    h.window(100, 200, 7.5, [{ start: 40, ms: 6 }]);
    expect(h.limit).toBe(1);
    // a pause that began just before the window and ran into it does excuse it
    const k = mk();
    k.window(100, 200, 7.5, [{ start: 97, ms: 6 }]);
    expect(k.limit).toBe(2);
  });

  it('lifts the limit only after holdMs of healthy windows, restarting the hold on new lag', () => {
    const g = mk();
    g.window(0, 100, 10, []);
    expect(g.limit).toBe(1);
    let raised = false;
    for (let t = 100; t < 1000; t += 100) raised = g.window(t, t + 100, 1, []) || raised;
    expect(g.limit).toBe(1); // healthy since 200: 900 ms < 1000
    g.window(1000, 1100, 9, []); // lag again: the hold starts over
    for (let t = 1100; t < 2100; t += 100) raised = g.window(t, t + 100, 1, []) || raised;
    expect(g.limit).toBe(1);
    expect(g.window(2100, 2200, 1, [])).toBe(true);
    expect(g.limit).toBe(2);
    expect(raised).toBe(false);
  });

  it('never goes below one batch', () => {
    const g = new LoopGuardPolicy({ slots: 1, thresholdMs: 4 });
    g.window(0, 100, 50, []);
    expect(g.limit).toBe(1);
  });
});

describe('LoopGuard on a real event loop', () => {
  it('lowers the limit after the loop is blocked with no GC to explain it', async () => {
    const g = new LoopGuard({ slots: 2, thresholdMs: 4, sampleMs: 50 });
    try {
      await new Promise((r) => setTimeout(r, 120));
      const until = performance.now() + 30;
      while (performance.now() < until) {
        // busy: the loop cannot run timers for 30 ms
      }
      // the blocked window is judged one sample later
      for (let i = 0; i < 10 && g.limit === 2; i++) await new Promise((r) => setTimeout(r, 50));
      expect(g.limit).toBe(1);
      expect(g.stats.over).toBeGreaterThan(0);
    } finally {
      g.close();
    }
  });
});
