/** The edge's adaptive in-flight limit: maxInflight, and while shedding, answers/s x SLO x factor. */
import { describe, expect, it } from 'vitest';
import { InflightLimit } from '../../src/api/inflight-limit.js';

const make = (over: Partial<ConstructorParameters<typeof InflightLimit>[0]> = {}): InflightLimit =>
  new InflightLimit({ max: 20_000, sloFactor: 1.5, sloMs: 100, floor: 16, windowMs: 250, memoryMs: 10_000, holdMs: 1_000, ...over });

/** `n` answers spread evenly over [from, to) ms. */
function answer(l: InflightLimit, from: number, to: number, n: number): void {
  for (let k = 0; k < n; k++) l.answered(from + ((to - from) * k) / n);
}

describe('InflightLimit', () => {
  it('an edge behind on reading turns the limit on like a shed call, for holdMs', () => {
    const l = make();
    answer(l, 0, 1_000, 400);
    expect(l.limit(1_000)).toBe(20_000);
    l.behind(1_000);
    expect(l.shedding(1_001)).toBe(true);
    expect(l.limit(1_001)).toBe(60);
    expect(l.shedding(2_001)).toBe(false);
    expect(l.limit(2_001)).toBe(20_000);
    // with the adaptive limit off, nothing changes
    const off = make({ sloFactor: 0 });
    off.behind(1_000);
    expect(off.limit(1_001)).toBe(20_000);
  });

  it('is maxInflight while nothing is shed, however low the rate', () => {
    const l = make();
    answer(l, 0, 1_000, 10); // 10 answers/s: the adaptive figure would be the floor
    expect(l.limit(1_000)).toBe(20_000);
    expect(l.shedding(1_000)).toBe(false);
  });

  it('while shedding: peak answers/s x SLO x factor, at least the floor, at most maxInflight', () => {
    const l = make();
    answer(l, 0, 1_000, 400); // 400 answers/s
    l.shed(1_000);
    // 0.4 answers/ms x 100 ms x 1.5 = 60 calls
    expect(l.limit(1_001)).toBe(60);
    expect(l.reason(1_001)).toMatch(/shedding load and holds 60 calls, what it answers within 100 ms/);
    // the peak holds when the rate drops (the server is as fast as it was)
    answer(l, 1_001, 2_000, 40);
    l.shed(2_000);
    expect(l.limit(2_001)).toBe(60);
    // a slow server: the floor
    const slow = make();
    answer(slow, 0, 1_000, 20);
    slow.shed(1_000);
    expect(slow.limit(1_001)).toBe(16);
    // a fast one: capped at maxInflight
    const fast = make({ max: 100 });
    answer(fast, 0, 1_000, 5_000);
    fast.shed(1_000);
    expect(fast.limit(1_001)).toBe(100);
    expect(fast.reason(1_001)).toMatch(/its limit \(maxInflight\)/);
  });

  it("while shedding, holds as many calls as the rate clears within the calls' own budgets, not the reference SLO", () => {
    const short = make();
    const long = make();
    answer(short, 0, 1_000, 400);
    answer(long, 0, 1_000, 400);
    for (let k = 0; k < 500; k++) {
      short.budget(100);
      long.budget(3_000);
    }
    short.shed(1_000);
    long.shed(1_000);
    expect(short.limit(1_001)).toBe(60); // 0.4 answers/ms x 100 ms x 1.5
    // 3 s budgets: 0.4 x ~3,000 x 1.5, within a call of 1,800 (the mean converges)
    expect(long.limit(1_001)).toBeGreaterThan(1_790);
    expect(long.limit(1_001)).toBeLessThanOrEqual(1_800);
    expect(long.reason(1_001)).toMatch(/what it answers within 3000 ms \(its calls' budget\)/);
    // a mix follows the mean, and a nonsense budget is ignored
    const mix = make();
    answer(mix, 0, 1_000, 400);
    for (let k = 0; k < 500; k++) mix.budget(k % 2 === 0 ? 100 : 300);
    mix.budget(Number.NaN);
    mix.budget(-5);
    mix.shed(1_000);
    expect(mix.limit(1_001)).toBeGreaterThanOrEqual(110);
    expect(mix.limit(1_001)).toBeLessThanOrEqual(130);
  });

  it('turns off holdMs after the last shed call, and forgets rates after memoryMs', () => {
    const l = make();
    answer(l, 0, 1_000, 400);
    l.shed(1_000);
    expect(l.limit(1_900)).toBe(60);
    expect(l.limit(2_100)).toBe(20_000);
    l.shed(20_000); // much later, no answers since: only the floor is known
    expect(l.limit(20_001)).toBe(16);
  });

  it('counts the window in progress once a quarter of it has run (a burst is seen within ~60 ms)', () => {
    const l = make();
    l.shed(0);
    l.answered(0);
    answer(l, 0, 100, 80); // 0.8 answers/ms so far
    expect(l.limit(100)).toBe(Math.ceil((81 / 100) * 100 * 1.5));
  });

  it('factor 0: maxInflight only, even while shedding', () => {
    const l = make({ sloFactor: 0 });
    answer(l, 0, 1_000, 400);
    l.shed(1_000);
    expect(l.limit(1_001)).toBe(20_000);
    expect(l.shedding(1_001)).toBe(false);
  });
});
