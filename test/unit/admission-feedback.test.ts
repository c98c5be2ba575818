/**
 * Admission's correction from its misses (src/server/admission-feedback.ts), on an injected clock:
 * a miss behind a backlog raises the factor to what that call needed (x slack, capped), only
 * misses move it, misses with no real queue predicted are ignored, and it decays back to 1.
 */
import { describe, expect, it } from 'vitest';
import { AdmissionFeedback } from '../../src/server/admission-feedback.js';

describe('AdmissionFeedback', () => {
  it('starts at 1 and jumps to what a missed call needed, times the slack', () => {
    const fb = new AdmissionFeedback({ halfLifeMs: 1_000, slack: 1.1, maxFactor: 8, minQueueMs: 2 });
    expect(fb.factor(0)).toBe(1);
    // admitted at t=0 with 10 ms of queue predicted and 1 ms for the rest; ended at 41 ms: needed (41 - 1) / 10 = 4
    fb.missed(41, 0, 41, 10, 1);
    expect(fb.factor(41)).toBeCloseTo(4.4, 6);
    expect(fb.raised).toBe(1);
  });

  it('never lowers the factor on a smaller miss, and caps it', () => {
    const fb = new AdmissionFeedback({ halfLifeMs: 1_000, slack: 1, maxFactor: 8, minQueueMs: 2 });
    fb.missed(0, -30, 0, 10, 0); // needed 3
    fb.missed(0, -20, 0, 10, 0); // needed 2: no change
    expect(fb.factor(0)).toBeCloseTo(3, 6);
    expect(fb.raised).toBe(1);
    fb.missed(0, -500, 0, 10, 0); // needed 50: capped
    expect(fb.factor(0)).toBe(8);
  });

  it('ignores a miss with less queue predicted than minQueueMs', () => {
    const fb = new AdmissionFeedback({ minQueueMs: 2 });
    fb.missed(100, 0, 100, 1.9, 0);
    fb.missed(100, 0, 100, Number.NaN, 0);
    expect(fb.factor(100)).toBe(1);
    expect(fb.raised).toBe(0);
  });

  it('decays back to 1 with its half-life while no miss comes', () => {
    const fb = new AdmissionFeedback({ halfLifeMs: 500, slack: 1, maxFactor: 8, minQueueMs: 2 });
    fb.missed(1_000, 0, 1_000, 200, 0); // needed 5
    expect(fb.factor(1_000)).toBeCloseTo(5, 6);
    expect(fb.factor(1_500)).toBeCloseTo(3, 6); // excess 4 -> 2 after one half-life
    expect(fb.factor(2_000)).toBeCloseTo(2, 6);
    expect(fb.factor(1_000 + 500 * 20)).toBe(1);
    // a later miss starts from the decayed value: needing 2.5 at t=2000 (factor 2 then) raises it
    fb.missed(2_000, 0, 500, 200, 0);
    expect(fb.factor(2_000)).toBeCloseTo(2.5, 6);
  });
});
