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
