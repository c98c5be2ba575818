import { describe, expect, it } from 'vitest';
import type { FeedbackRecord } from '../../src/exits/feedback.js';
import { exitLatencyOf } from '../../src/exits/latency.js';
import { evaluateThresholds } from '../../src/exits/thresholds.js';
import { DEFAULT_TUNER, tuneThresholds, tuningTarget } from '../../src/exits/tuner.js';
import { rng } from '../helpers.js';

const exact = { ...DEFAULT_TUNER, safety: 0 };

describe('threshold tuner (fast loop)', () => {
  it('converges to the known optimum of a one-ramp window', () => {
    // loss u_i = i/1000; every 10th input from u = 0.3 on disagrees with the final output.
    // With a 1% budget 10 errors are allowed: the best tau exits every u < 0.4 (errors 0.30..0.39).
    const recs: FeedbackRecord[] = Array.from({ length: 1000 }, (_, i) => ({
      loss: [i / 1000, 0.9],
      pred: [i >= 300 && i % 10 === 0 ? 1 : 0, 0],
      finalPred: 0,
      finalLoss: 0,
    }));
    const lat = exitLatencyOf([1, 1, 1]);
    const t = tuneThresholds({ records: recs, active: [0], latency: lat }, exact);
    const tau = t.thresholds[0]!;
    expect(tau).toBeLessThanOrEqual(0.4 + 1e-9);
    expect(tau).toBeGreaterThan(0.4 - DEFAULT_TUNER.minStep * 1.25);
    expect(t.accuracy).toBeGreaterThanOrEqual(0.99);
    const exited = evaluateThresholds(recs, t.thresholds, lat).exits[0]!;
    expect(exited).toBeGreaterThanOrEqual(398); // the optimum exits 400
    expect(t.thresholds[1]).toBe(0); // not active
  });

  it('comes within 5% of the brute-force optimum with two ramps (greedy: ~4% here), and stays feasible', () => {
    const r = rng(7);
    // ramp 0 is cheap and noisy, ramp 1 later and sharper; an input's difficulty drives both
    const recs: FeedbackRecord[] = Array.from({ length: 600 }, () => {
      const hard = r();
      const u0 = Math.min(0.89, hard * 0.6 + r() * 0.2);
      const u1 = Math.min(0.89, hard * 0.4 + r() * 0.05);
      return { loss: [u0, u1], pred: [r() < hard * 0.5 ? 1 : 0, r() < hard * hard * 0.3 ? 1 : 0], finalPred: 0, finalLoss: 0 };
    });
    const lat = exitLatencyOf([1, 1, 1]);
    const t = tuneThresholds({ records: recs, active: [0, 1], latency: lat }, exact);
    let best = Infinity;
    for (let a = 0; a <= 120; a++)
      for (let b = 0; b <= 120; b++) {
        const e = evaluateThresholds(recs, [a * 0.005, b * 0.005], lat);
        if (e.accuracy >= 0.99) best = Math.min(best, e.meanLatency);
      }
    expect(t.accuracy).toBeGreaterThanOrEqual(0.99);
    expect(t.meanLatency).toBeLessThanOrEqual(best * 1.05);
  });

  it('never violates the budget on the window it tuned on', () => {
    const lat = exitLatencyOf([0.5, 0.4, 0.3, 0.2, 0.1]);
    for (let seed = 1; seed <= 12; seed++) {
      const r = rng(seed);
      const recs: FeedbackRecord[] = Array.from({ length: 256 }, () => {
        const d = r();
        return {
          loss: [0, 1, 2, 3].map((j) => Math.min(0.89, d * (1 - j * 0.2) * r() * 1.5)),
          pred: [0, 1, 2, 3].map((j) => (r() < d * (0.4 - j * 0.08) ? 1 : 0)),
          finalPred: 0,
          finalLoss: 0,
        };
      });
      for (const settings of [exact, DEFAULT_TUNER, { ...DEFAULT_TUNER, budget: 0.05 }]) {
        const t = tuneThresholds({ records: recs, active: [0, 1, 2, 3], latency: lat }, settings);
        const e = evaluateThresholds(recs, t.thresholds, lat);
        expect(e.accuracy).toBeGreaterThanOrEqual(tuningTarget(settings) - 1e-12);
        expect(e.accuracy).toBeGreaterThanOrEqual(1 - settings.budget);
      }
    }
  });

  it('honours an extra set that must also stay within budget (the violating batch)', () => {
    const lat = exitLatencyOf([1, 1]);
    const good: FeedbackRecord[] = Array.from({ length: 200 }, (_, i) => ({ loss: [i / 400], pred: [0], finalPred: 0, finalLoss: 0 }));
    const bad: FeedbackRecord[] = Array.from({ length: 50 }, (_, i) => ({ loss: [0.001 + i / 1000], pred: [1], finalPred: 0, finalLoss: 0 }));
    expect(tuneThresholds({ records: good, active: [0], latency: lat }, exact).thresholds[0]).toBeGreaterThan(0.4);
    const t = tuneThresholds({ records: good, active: [0], latency: lat, also: [bad] }, exact);
    expect(evaluateThresholds(bad, t.thresholds, lat).accuracy).toBeGreaterThanOrEqual(0.99);
  });
});
