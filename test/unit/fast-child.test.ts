/**
 * The fast label children write into prom-client's own entries. The oracle is prom-client itself:
 * the same random operations go to a metric through prom-client's API and to a twin through fast
 * children, and the two registries must print the same exposition text (prom-client renders both).
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { FastCounterChild, FastGaugeChild, FastHistogramChild, fastChild } from '../../src/metrics/fast-child.js';
import { rng } from '../helpers.js';

const LABELS = [
  ['a', 'x'],
  ['a', 'y'],
  ['b', 'x'],
] as const;

describe('fast label children', () => {
  for (const seed of [1, 2, 3]) {
    it(`print what prom-client prints for the same operations (seed ${seed})`, async () => {
      const native = new Registry();
      const fast = new Registry();
      const labelNames = ['m', 'v'] as const;
      const make = (r: Registry): { c: Counter<'m' | 'v'>; g: Gauge<'m' | 'v'>; h: Histogram<'m' | 'v'> } => ({
        c: new Counter({ name: 'c_total', help: 'c', labelNames, registers: [r] }),
        g: new Gauge({ name: 'g', help: 'g', labelNames, registers: [r] }),
        h: new Histogram({ name: 'h', help: 'h', labelNames, buckets: [0.001, 0.01, 0.1, 1], registers: [r] }),
      });
      const n = make(native);
      const f = make(fast);
      // count the calls that went through prom-client's own methods (first use, after a reset,
      // and the gauge's dec-less paths): the rest must have taken the fast path
      let slow = 0;
      for (const m of [f.c, f.g, f.h] as unknown as Record<string, (...a: unknown[]) => unknown>[]) {
        for (const name of ['inc', 'set', 'observe']) {
          const orig = m[name];
          if (orig) m[name] = (...a: unknown[]) => (slow++, orig.apply(m, a));
        }
      }
      let resets = 0;
      const fc = LABELS.map((l) => new FastCounterChild(f.c, l));
      const fg = LABELS.map((l) => new FastGaugeChild(f.g, l));
      const fh = LABELS.map((l) => new FastHistogramChild(f.h, l));
      const r = rng(seed);
      for (let i = 0; i < 3000; i++) {
        const k = Math.floor(r() * LABELS.length);
        const [m, v] = LABELS[k]!;
        const op = r();
        if (op < 0.25) {
          const amount = r() < 0.3 ? undefined : Math.round(r() * 1000) / 10;
          n.c.inc({ m, v }, amount as number);
          fc[k]!.inc(amount);
        } else if (op < 0.4) {
          const x = Math.round(r() * 100) - 50;
          n.g.set({ m, v }, x);
          fg[k]!.set(x);
        } else if (op < 0.5) {
          const x = Math.round(r() * 10);
          n.g.inc({ m, v }, x);
          fg[k]!.inc(x);
          n.g.dec({ m, v }, 1);
          fg[k]!.dec(1);
        } else if (op < 0.98) {
          // values on the bounds, between them and above them all
          const x = r() < 0.1 ? [0.001, 0.01, 0.1, 1][Math.floor(r() * 4)]! : r() < 0.1 ? 5 + r() : r() * r();
          n.h.observe({ m, v }, x);
          fh[k]!.observe(x);
        } else {
          // a reset empties prom-client's map: the children must find their entries again
          resets++;
          for (const x of [n, f]) {
            x.c.reset();
            x.g.reset();
            x.h.reset();
          }
        }
      }
      expect(await fast.metrics()).toBe(await native.metrics());
      // at most one slow call per child (3 kinds x 3 label sets) after each reset, and at the start
      expect(slow).toBeLessThanOrEqual(9 * (resets + 1));
      expect(resets).toBeGreaterThan(0);
    });
  }

  it("keeps prom-client's errors for values it refuses", () => {
    const r = new Registry();
    const c = new Counter({ name: 'c_total', help: 'c', labelNames: ['m'], registers: [r] });
    const child = new FastCounterChild(c, ['a']);
    child.inc(1);
    expect(() => child.inc(-1)).toThrow(/decrease/);
    expect(() => child.inc(Number.POSITIVE_INFINITY)).toThrow(/valid number/);
    const h = new Histogram({ name: 'h', help: 'h', labelNames: ['m'], registers: [r] });
    const hc = new FastHistogramChild(h, ['a']);
    hc.observe(0.5);
    expect(() => hc.observe(Number.POSITIVE_INFINITY)).toThrow(/valid number/);
    expect(() => new FastCounterChild(c, ['a', 'b'])).toThrow(/1 label value/);
  });

  it('makes the child that matches the metric kind', () => {
    const r = new Registry();
    expect(fastChild(new Counter({ name: 'a_total', help: 'a', labelNames: ['m'], registers: [r] }), ['x'])).toBeInstanceOf(FastCounterChild);
    expect(fastChild(new Gauge({ name: 'b', help: 'b', labelNames: ['m'], registers: [r] }), ['x'])).toBeInstanceOf(FastGaugeChild);
    expect(fastChild(new Histogram({ name: 'c', help: 'c', labelNames: ['m'], registers: [r] }), ['x'])).toBeInstanceOf(FastHistogramChild);
  });
});
