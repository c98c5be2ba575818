/** The frontend's view of the work ahead (images, all frontends) and its measured drain rate. */
import { describe, expect, it } from 'vitest';
import { admissionLoad, Backlog } from '../../src/server/backlog.js';
import { table } from '../sched-fixtures.js';

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

  it("admission scales the profile by the serving path's efficiency, not by the subnets the policy chose", () => {
    const tbl = table(); // fast / mid / slow, affine latencies; maxBatch 64
    const B = tbl.maxBatch;
    const perImage = (id: string): number => {
      const s = tbl.subnets.find((x) => x.id === id)!;
      return tbl.ms(s.index, B) / B;
    };
    /** 2 executors kept saturated by 40 calls of 16 images; answers of `subnet` every `everyMs` for 300 ms. */
    const run = (subnet: string, everyMs: number, withProfile: boolean): ReturnType<typeof admissionLoad> => {
      const b = new Backlog({ windowMs: 100, memoryMs: 10_000, saturatedAt: 2 });
      for (let k = 0; k < 40; k++) b.admitted(16);
      for (let t = 0; t <= 300; t += everyMs) {
        b.admitted(16);
        b.finished(16, true, t, withProfile ? 16 * perImage(subnet) : 0);
      }
      return admissionLoad(b, tbl, 2, 301, 16, 0);
    };
    // SlackFit-like: the slow accurate subnet at exactly its profiled speed on both executors
    const atProfile = (16 * perImage('slow')) / 2;
    const chosen = run('slow', atProfile, true);
    expect(chosen.imagesAhead).toBe(40 * 16 + 15);
    expect(chosen.queuedAhead).toBeCloseTo(chosen.imagesAhead, 0); // the path is as fast as the profile: nothing added
    // the raw rate alone (no subnet known) reads that as ~9x slower than the fastest subnet's profile
    const raw = run('slow', atProfile, false);
    const ratio = (16 / perImage('fast')) / (16 / perImage('slow'));
    expect(raw.queuedAhead / raw.imagesAhead).toBeCloseTo(ratio, 0);
    // a serving path at half the profile of what it ran: twice the wait
    const half = run('slow', 2 * atProfile, true);
    expect(half.queuedAhead / half.imagesAhead).toBeCloseTo(2, 1);
  });
});
