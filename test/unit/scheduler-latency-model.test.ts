import { describe, expect, it } from 'vitest';
import { ArrivalRate } from '../../src/scheduler/arrival-rate.js';
import { LatencyModel, sizeBucket } from '../../src/scheduler/latency-model.js';
import { rng } from '../helpers.js';
import { table } from '../sched-fixtures.js';

const T = table('p50');
const slow = T.subnet('slow');
const fast = T.subnet('fast');

/** The q-quantile of xs by sorting (an oracle independent of the online update). */
const quantile = (xs: readonly number[], q: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))] as number;
};

describe('online latency model', () => {
  it('plans with the profile until it has seen batches', () => {
    const m = new LatencyModel(T);
    const st = m.init();
    expect(m.plan(st, slow.index, 4, 1)).toBeCloseTo(T.stats(slow.index, 4).p50, 9);
  });

  it('tracks the configured quantile of observed/profiled latency (checked against a sorted sample)', () => {
    const r = rng(7);
    for (const q of [0.5, 0.9]) {
      const m = new LatencyModel(T, { quantile: q, step: 0.02 });
      let st = m.init();
      const ratios: number[] = [];
      for (let i = 0; i < 6000; i++) {
        const ratio = Math.exp(0.6 * (r() + r() + r() - 1.5)) * 2; // skewed, around 2
        ratios.push(ratio);
        st = m.observe(st, { subnetIndex: slow.index, batch: 8, latencyMs: ratio * T.stats(slow.index, 8).p50, running: 1, missed: 0, requests: 8 });
      }
      const want = quantile(ratios.slice(-3000), q);
      expect(m.ratio(st, slow.index, 8, 1)).toBeGreaterThan(want * 0.9);
      expect(m.ratio(st, slow.index, 8, 1)).toBeLessThan(want * 1.1);
    }
  });

  it('adapts within a burst: batches that turn 3x slower raise the plan within a few dozen batches', () => {
    const m = new LatencyModel(T, { quantile: 0.5 });
    let st = m.init();
    const obs = (ratio: number) => ({ subnetIndex: fast.index, batch: 16, latencyMs: ratio * T.stats(fast.index, 16).p50, running: 2, missed: 0, requests: 16 });
    for (let i = 0; i < 200; i++) st = m.observe(st, obs(1));
    expect(m.ratio(st, fast.index, 16, 2)).toBeCloseTo(1, 1);
    for (let i = 0; i < 30; i++) st = m.observe(st, obs(3));
    expect(m.ratio(st, fast.index, 16, 2)).toBeGreaterThan(2);
  });

  it('keys by batches running: contention seen with two at once does not slow the plan for one', () => {
    const m = new LatencyModel(T);
    let st = m.init();
    for (let i = 0; i < 100; i++) {
      st = m.observe(st, { subnetIndex: slow.index, batch: 4, latencyMs: 3 * T.stats(slow.index, 4).p50, running: 2, missed: 0, requests: 4 });
      st = m.observe(st, { subnetIndex: slow.index, batch: 4, latencyMs: T.stats(slow.index, 4).p50, running: 1, missed: 0, requests: 4 });
    }
    expect(m.ratio(st, slow.index, 4, 2)).toBeGreaterThan(2.5);
    expect(m.ratio(st, slow.index, 4, 1)).toBeLessThan(1.2);
    // an unseen subnet borrows the pooled estimate of its (batch size, running) cell
    expect(m.ratio(st, fast.index, 5, 2)).toBeGreaterThan(2.5);
    expect(sizeBucket(4)).toBe(sizeBucket(7));
  });

  it('carries a burst seen on one subnet to a subnet that last ran on a calm machine, and lets go once the cells catch up', () => {
    const m = new LatencyModel(T);
    let st = m.init();
    const obs = (s: typeof slow, ratio: number) => ({ subnetIndex: s.index, batch: 8, latencyMs: ratio * T.stats(s.index, 8).p50, running: 1, missed: 0, requests: 8 });
    for (let i = 0; i < 100; i++) st = m.observe(m.observe(st, obs(slow, 1)), obs(fast, 1));
    expect(m.plan(st, slow.index, 8, 1) / m.base(slow.index, 8)).toBeCloseTo(1, 1);
    // the edge takes the cores: only the fast subnet runs, 3x slower than planned
    for (let i = 0; i < 10; i++) st = m.observe(st, obs(fast, 3));
    // the slow subnet's own cell has not seen a batch since; its plan rises anyway
    expect(m.ratio(st, slow.index, 8, 1)).toBeCloseTo(1, 1);
    expect(m.plan(st, slow.index, 8, 1) / m.base(slow.index, 8)).toBeGreaterThan(1.5);
    // once the fast cell has learnt the new speed, its batches run as planned and the term decays
    for (let i = 0; i < 300; i++) st = m.observe(st, obs(fast, 3));
    expect(m.ratio(st, fast.index, 8, 1)).toBeGreaterThan(2.7);
    expect(m.contention(st)).toBeLessThan(1.05);
  });

  it('does not read steady noise as contention (log-normal noise, sd 0.2, around the plan)', () => {
    const r = rng(11);
    const m = new LatencyModel(T);
    let st = m.init();
    let sum = 0;
    let above = 0;
    const n = 4000;
    for (let i = 0; i < n; i++) {
      const z = (r() + r() + r() + r() - 2) * Math.sqrt(3); // ~N(0, 1)
      st = m.observe(st, { subnetIndex: slow.index, batch: 8, latencyMs: Math.exp(0.2 * z) * T.stats(slow.index, 8).p50, running: 1, missed: 0, requests: 8 });
      if (i >= 500) {
        sum += m.contention(st);
        if (m.contention(st) > 1.2) above++;
      }
    }
    expect(sum / (n - 500)).toBeLessThan(1.03);
    expect(above / (n - 500)).toBeLessThan(0.02);
  });

  it('contentionAlpha 0 turns the term off', () => {
    const m = new LatencyModel(T, { contentionAlpha: 0 });
    let st = m.init();
    for (let i = 0; i < 50; i++) st = m.observe(st, { subnetIndex: fast.index, batch: 8, latencyMs: 1, running: 1, missed: 0, requests: 8 });
    for (let i = 0; i < 10; i++) st = m.observe(st, { subnetIndex: fast.index, batch: 8, latencyMs: 5, running: 1, missed: 0, requests: 8 });
    expect(m.contention(st)).toBe(1);
  });

  it('raises the headroom while misses stay above target and lowers it back when they stop', () => {
    const m = new LatencyModel(T);
    let st = m.init();
    const obs = (missed: number) => ({ subnetIndex: slow.index, batch: 4, latencyMs: 2, running: 1, missed, requests: 4 });
    for (let i = 0; i < 100; i++) st = m.observe(st, obs(1));
    const raised = st.headroom;
    expect(raised).toBeGreaterThan(1.5);
    expect(m.plan(st, slow.index, 4, 1)).toBeCloseTo(m.base(slow.index, 4) * m.ratio(st, slow.index, 4, 1) * raised, 9);
    for (let i = 0; i < 2000; i++) st = m.observe(st, obs(0));
    expect(st.headroom).toBeLessThan(raised);
    expect(st.headroom).toBeGreaterThanOrEqual(1);
  });
});

describe('arrival rate window', () => {
  it('counts images per ms over the last window only', () => {
    const a = new ArrivalRate(100, 10);
    for (let t = 0; t < 1000; t += 1) a.add(t, 2); // 2 images per ms
    expect(a.rate(999)).toBeCloseTo(2, 1);
    expect(a.rate(1200)).toBe(0); // nothing in the last 100 ms
    a.add(1205, 50);
    expect(a.rate(1210)).toBeCloseTo(0.5, 9);
  });
});
