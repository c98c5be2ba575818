/** The peak of the samples of the last memoryMs, bounded in count. */
import { describe, expect, it } from 'vitest';
import { RecentPeak } from '../../src/metrics/recent-peak.js';

describe('RecentPeak', () => {
  it('is the largest sample of the last memoryMs, undefined without one', () => {
    const p = new RecentPeak(1_000);
    expect(p.peak(0)).toBeUndefined();
    p.push(0, 3);
    p.push(500, 1);
    expect(p.peak(900)).toBe(3);
    expect(p.peak(1_200)).toBe(1); // the 3 (at 0) is older than 1 s now
    expect(p.peak(2_000)).toBeUndefined();
  });

  it('keeps at most maxSamples, dropping the oldest', () => {
    const p = new RecentPeak(1_000_000, 2);
    p.push(0, 9);
    p.push(1, 2);
    p.push(2, 1);
    expect(p.peak(3)).toBe(2);
  });
});

describe('RecentPeak against a brute-force window maximum', () => {
  it('agrees on random pushes and queries', () => {
    let seed = 7;
    const rand = (): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    for (const [memoryMs, maxSamples] of [[50, 1_000], [1_000, 5], [200, 30]] as const) {
      const p = new RecentPeak(memoryMs, maxSamples);
      const all: [number, number][] = [];
      let now = 0;
      for (let i = 0; i < 5_000; i++) {
        now += Math.floor(rand() * 20);
        if (rand() < 0.6) {
          const v = Math.floor(rand() * 10); // small range: ties are common
          p.push(now, v);
          all.push([now, v]);
        }
        const window = all.slice(-maxSamples).filter(([t]) => t >= now - memoryMs);
        const want = window.length === 0 ? undefined : Math.max(...window.map(([, v]) => v));
        expect(p.peak(now)).toBe(want);
      }
    }
  });
});
