/** The frontend's view of the work ahead (images, all frontends) and its measured drain rate. */
import { describe, expect, it } from 'vitest';
import { Backlog } from '../../src/server/backlog.js';

describe('Backlog', () => {
  it('counts images, not requests, and the other frontends\' share of the shared queue', () => {
    const b = new Backlog();
    b.admitted(16);
    b.admitted(1);
    expect(b.imagesAhead()).toBe(17);
    // 10 outstanding in the shared queue, 2 of them ours: 8 more at our mean size (near 1 yet)
    b.polled(10);
    expect(b.imagesAhead()).toBeGreaterThan(17 + 8);
    expect(b.imagesAhead()).toBeLessThan(17 + 8 * 2);
    b.finished(16, true, 0);
    b.finished(1, false, 0);
    b.polled(0);
    expect(b.imagesAhead()).toBe(0);
    expect(b.inFlight).toBe(0);
  });

  it('measures the drain rate in saturated windows only: the peak of recent ones, forgotten after memoryMs', () => {
    const b = new Backlog({ windowMs: 100, memoryMs: 1_000, saturatedAt: 2 });
    expect(b.drainPerMs(0)).toBeUndefined();
    // below saturation (one call at a time): answers say nothing about capacity
    for (let t = 0; t <= 300; t += 10) {
      b.admitted(2);
      b.finished(2, true, t);
    }
    expect(b.drainPerMs(310)).toBeUndefined();
    // saturated: 3 calls always outstanding while answers come back
    for (let k = 0; k < 3; k++) b.admitted(1);
    for (let t = 310; t <= 600; t += 10) {
      b.admitted(2);
      b.finished(2, true, t); // 2 images every 10 ms: 0.2 images/ms
    }
    expect(b.drainPerMs(610)).toBeCloseTo(0.2, 1);
    for (let t = 610; t <= 800; t += 5) {
      b.admitted(2);
      b.finished(2, true, t); // twice as fast
    }
    expect(b.drainPerMs(810)).toBeCloseTo(0.4, 1);
    // failed calls (shed, cancelled) are not answers: they do not raise the rate
    for (let t = 810; t <= 1_000; t += 1) {
      b.admitted(2);
      b.finished(2, false, t);
    }
    expect(b.drainPerMs(1_010)).toBeCloseTo(0.4, 1);
    expect(b.drainPerMs(5_000)).toBeUndefined();
  });

  it('records no window while the queue backend is unreachable (an outage is not a slow server)', () => {
    // the outage: a trickle of answers (3 per window: replies written before it, a retry) while calls pile up
    const trickle = (b: Backlog): void => {
      for (let k = 0; k < 3; k++) b.admitted(1); // saturated throughout
      for (let t = 0; t <= 2_000; t += 33) {
        b.admitted(1);
        b.finished(1, true, t);
      }
    };
    const b = new Backlog({ windowMs: 100, memoryMs: 10_000, saturatedAt: 2 });
    b.interrupted(0);
    trickle(b);
    expect(b.drainPerMs(2_010)).toBeUndefined();
    // back: the backlog drains fast, and that rate is what is recorded
    b.resumed(2_010);
    for (let t = 2_010; t <= 2_300; t += 1) {
      b.admitted(1);
      b.finished(1, true, t);
    }
    expect(b.drainPerMs(2_310)).toBeCloseTo(1, 1);
    // the same trickle, not marked as an outage, would have been recorded as the rate
    const unmarked = new Backlog({ windowMs: 100, memoryMs: 10_000, saturatedAt: 2 });
    trickle(unmarked);
    expect(unmarked.drainPerMs(2_010)).toBeCloseTo(0.03, 2);
  });

  it('records no window with fewer answers than saturatedAt (one answer says little of a rate)', () => {
    const b = new Backlog({ windowMs: 100, memoryMs: 10_000, saturatedAt: 2 });
    for (let k = 0; k < 3; k++) b.admitted(16);
    for (let t = 0; t <= 1_000; t += 150) {
      b.admitted(16);
      b.finished(16, true, t); // one answer per window at most
    }
    expect(b.drainPerMs(1_010)).toBeUndefined();
  });

  it('counts the shared queue towards saturation (other frontends keep the workers busy)', () => {
    const b = new Backlog({ windowMs: 100, saturatedAt: 2 });
    b.polled(10);
    for (let t = 0; t <= 300; t += 10) {
      b.admitted(1);
      b.finished(1, true, t);
    }
    expect(b.drainPerMs(310)).toBeCloseTo(0.1, 1);
  });
});
