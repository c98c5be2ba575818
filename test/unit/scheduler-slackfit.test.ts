import { describe, expect, it } from 'vitest';
import { buildBuckets, slackFit } from '../../src/scheduler/slackfit.js';
import { LatencyTable } from '../../src/scheduler/latency-table.js';
import { ctx, req, table, THREE } from '../sched-fixtures.js';
import { rng } from '../helpers.js';

const T = table('p50');
const opts = { bucketMs: 1, dispatchOverheadMs: 0, rule: 'paper' } as const;
const decide = (now: number, rs: Parameters<typeof ctx>[1], o = {}) => {
  const p = slackFit(T, { ...opts, ...o });
  return p.decide(ctx(now, rs), p.init()).decision;
};

describe('latency table', () => {
  it('interpolates between profiled batch sizes and plans with the chosen quantile', () => {
    expect(T.ms(T.subnet('mid').index, 3)).toBeCloseTo(1 + 0.2 * 3, 9); // between 2 and 4: affine, exact
    expect(T.ms(T.subnet('slow').index, 64)).toBeCloseTo(34, 9);
    const p95 = table('p95');
    expect(p95.ms(p95.subnet('slow').index, 64)).toBeCloseTo(34 * 1.2, 9);
    expect(T.mostAccurate.id).toBe('slow');
    expect(T.fastest(1)?.id).toBe('fast');
    expect(T.fastest(1, 0.91)?.id).toBe('slow');
    expect(T.fastest(1, 0.99)).toBeNull();
  });

  it('makes latency non-decreasing in the batch size when a measurement is noisy', () => {
    const noisy = structuredClone(THREE) as typeof THREE & { subnets: { whole: Record<string, { p50: number; p95: number }> }[] };
    (noisy.subnets[0] as { whole: Record<string, { p50: number; p95: number }> }).whole['1'] = { p50: 9, p95: 9 };
    const t = LatencyTable.fromProfile(noisy, { quantile: 'p50' });
    expect(t.ms(0, 1)).toBeLessThanOrEqual(t.ms(0, 2));
  });
});

describe('SlackFit', () => {
  it('runs the most accurate subnet when one request has plenty of slack (low load)', () => {
    const d = decide(0, [req(100)]);
    expect(d.dispatch?.subnet).toBe('slow');
    expect(d.dispatch?.requests).toHaveLength(1);
  });

  it('moves to a fast subnet with a big batch when the queue is long and slack is short (burst)', () => {
    const rs = Array.from({ length: 64 }, (_, i) => req(3.9 + i * 0.01));
    const d = decide(0, rs);
    // slack 3.9 ms: slow fits b<=3, mid b<=14, fast b=64 (3.7 ms), all in bucket [3,4) -> the largest batch wins
    expect(d.dispatch?.subnet).toBe('fast');
    expect(d.dispatch?.requests).toHaveLength(64);
    expect(d.dispatch?.expectedMs).toBeLessThanOrEqual(3.9);
  });

  it('dispatches the b earliest-deadline requests', () => {
    const rs = [req(50), req(3), req(9), req(7)];
    const d = decide(0, rs);
    const ds = d.dispatch?.requests.map((r) => r.deadline) ?? [];
    expect(ds).toEqual([...ds].sort((a, b) => a - b));
    expect(ds[0]).toBe(3);
  });

  it('chooses the highest bucket that fits, then the largest batch, then the most accurate subnet (property check)', () => {
    const r = rng(7);
    const buckets = buildBuckets(T, 1);
    for (let trial = 0; trial < 300; trial++) {
      const n = 1 + Math.floor(r() * 70);
      const head = 0.6 + r() * 40;
      const rs = Array.from({ length: n }, (_, i) => req(head + i));
      const d = decide(0, rs);
      const s = T.subnet(d.dispatch?.subnet as string);
      const b = d.dispatch?.requests.length as number;
      const lat = T.ms(s.index, b);
      expect(lat).toBeLessThanOrEqual(head);
      // no bucket above the chosen one holds a pair that fits and that the queue could fill
      const fits = (id: string, bb: number) => T.ms(T.subnet(id).index, bb) <= head;
      const chosenBucket = buckets.findIndex((bk) => (bk.byBatch[b] ?? []).some((x) => x.id === s.id));
      for (let k = chosenBucket + 1; k < buckets.length; k++)
        for (let bb = 1; bb <= Math.min(n, 64); bb++) expect(buckets[k]!.byBatch[bb]!.filter((x) => fits(x.id, bb))).toHaveLength(0);
      // inside the chosen bucket, no fitting pair has a larger batch, nor a more accurate subnet at this batch
      const bk = buckets[chosenBucket]!;
      for (let bb = b + 1; bb <= Math.min(n, 64); bb++) expect(bk.byBatch[bb]!.filter((x) => fits(x.id, bb))).toHaveLength(0);
      expect(bk.byBatch[b]!.find((x) => fits(x.id, b))!.id).toBe(s.id);
    }
  });

  it('tie-break "accuracy" prefers the most accurate subnet in the bucket over a bigger batch', () => {
    // slack 3.05 ms with 64 queued: bucket [3,4) holds fast@b=50..64 (3.0-3.7 ms, only b<=51 fit)
    // and slow@b=2 (3.0 ms); mid@b=10 is 3.0 ms too
    const rs = Array.from({ length: 64 }, () => req(3.05));
    expect(decide(0, rs, { tieBreak: 'batch' }).dispatch?.subnet).toBe('fast');
    const acc = decide(0, rs, { tieBreak: 'accuracy' }).dispatch;
    expect(acc?.subnet).toBe('slow');
    expect(acc?.requests).toHaveLength(2);
  });

  it('serves only subnets meeting the batch members\' minimum accuracy', () => {
    const d = decide(0, [req(100, { minAccuracy: 0.92 })]);
    expect(d.dispatch?.subnet).toBe('slow');
    // a demanding request later in EDF order limits the batch (or the subnet) it joins
    const rs = [...Array.from({ length: 10 }, () => req(2.5)), req(2.6, { minAccuracy: 0.92 })];
    const d2 = decide(0, rs);
    const chosen = T.subnet(d2.dispatch?.subnet as string);
    const served = d2.dispatch?.requests ?? [];
    expect(Math.max(...served.map((r) => r.minAccuracy))).toBeLessThanOrEqual(chosen.accuracy);
  });

  it('treats a slack equal to the latency as fitting, and one just below as not', () => {
    const slowB1 = T.ms(T.subnet('slow').index, 1); // 2.5
    expect(decide(0, [req(slowB1)]).dispatch?.subnet).toBe('slow');
    expect(decide(0, [req(slowB1 - 1e-9)]).dispatch?.subnet).not.toBe('slow');
  });

  it('drops expired requests and, when sheddable, ones no subnet can finish in time', () => {
    const expired = req(5);
    const hopeless = req(10.3); // fastest alone takes 0.55 ms; now = 10
    const fine = req(30);
    const d = decide(10, [expired, hopeless, fine]);
    expect(d.drops.map((x) => [x.request.key, x.reason])).toEqual([
      [expired.key, 'expired'],
      [hopeless.key, 'infeasible'],
    ]);
    expect(d.dispatch?.requests.map((r) => r.key)).toEqual([fine.key]);
  });

  it('serves a non-sheddable hopeless request late on the fastest subnet instead of dropping it', () => {
    const r = req(10.3, { sheddable: false });
    const d = decide(10, [r]);
    expect(d.drops).toHaveLength(0);
    expect(d.dispatch?.subnet).toBe('fast');
    expect(d.dispatch?.requests).toEqual([r]);
  });

  it('with dropping off, serves the head alone on the fastest subnet when nothing fits', () => {
    const d = decide(10, [req(10.3), req(10.4)], { dropInfeasible: false });
    expect(d.drops).toHaveLength(0);
    expect(d.dispatch?.subnet).toBe('fast');
    expect(d.dispatch?.requests).toHaveLength(1);
  });

  it('plans with the dispatch overhead', () => {
    // slow@1 = 2.5 ms fits a 2.6 ms slack, but not once 0.2 ms of overhead is added
    expect(decide(0, [req(2.6)]).dispatch?.subnet).toBe('slow');
    expect(decide(0, [req(2.6)], { dispatchOverheadMs: 0.2 }).dispatch?.subnet).not.toBe('slow');
  });

  it('calibrates: after batches run 3x slower than profiled it plans with 3x the latency', () => {
    const p = slackFit(T, opts);
    let cal = p.init();
    const slow = T.subnet('slow');
    for (let i = 0; i < 50; i++) cal = p.observe(cal, { subnet: 'slow', batch: 1, latencyMs: 3 * T.stats(slow.index, 1).p50, tightestSloMs: 50, missed: 0 });
    expect(cal.cal.scale).toBeCloseTo(3, 1);
    // 5 ms of slack: slow@1 (2.5 ms profiled) fits uncalibrated, not at 7.5 ms
    expect(p.decide(ctx(0, [req(5)]), p.init()).decision.dispatch?.subnet).toBe('slow');
    const d = p.decide(ctx(0, [req(5)]), cal).decision.dispatch;
    expect(d?.subnet).not.toBe('slow');
    expect(d?.expectedMs).toBeLessThanOrEqual(5);
    // and without calibration the observations change nothing
    const off = slackFit(T, { ...opts, calibrate: false });
    expect(off.observe(off.init(), { subnet: 'slow', batch: 1, latencyMs: 30, tightestSloMs: 50, missed: 0 }).cal.scale).toBe(1);
  });

  it('plans multi-image requests by their images: the batch latency is that of the images they carry', () => {
    // 8 requests of 16 images; slack 10 ms: fast@64 = 3.7 ms fits 4 requests (64 images), not 8
    const rs = Array.from({ length: 8 }, () => req(10, { size: 16 }));
    const d = decide(0, rs);
    const imgs = (d.dispatch?.requests ?? []).reduce((a, r) => a + (r.size ?? 1), 0);
    expect(imgs).toBeLessThanOrEqual(64);
    expect(d.dispatch?.expectedMs).toBeCloseTo(T.ms(T.subnet(d.dispatch!.subnet).index, imgs), 9);
    expect(d.dispatch?.expectedMs).toBeLessThanOrEqual(10);
    // one 16-image request with 4 ms: slow@16 = 10 ms does not fit, mid@16 = 4.2 neither, fast@16 = 1.3 does
    expect(decide(0, [req(4, { size: 16 })]).dispatch?.subnet).toBe('fast');
  });

  it('with exits, plans with the answer latency and the agreement of early answers', () => {
    const p = slackFit(T, opts);
    // 1.5 ms of slack: slow@1 (2.5 ms) does not fit; with its median answer at 40% of the batch it does
    const c = ctx(0, [req(1.5)]);
    expect(p.decide(c, p.init()).decision.dispatch?.subnet).not.toBe('slow');
    const exits = { answerFraction: (id: string) => (id === 'slow' ? 0.4 : 1), agreement: () => 1 };
    expect(p.decide({ ...c, exits }, p.init()).decision.dispatch?.subnet).toBe('slow');
    // a floor of 0.89: slow (93%) qualifies, but not when its served answers agree with its final
    // output only 95% of the time (0.93 x 0.95 < 0.89): then mid (90%) serves
    const strict = ctx(0, [req(100, { minAccuracy: 0.89 })]);
    expect(p.decide({ ...strict, exits }, p.init()).decision.dispatch?.subnet).toBe('slow');
    const sloppy = { answerFraction: () => 1, agreement: (id: string) => (id === 'slow' ? 0.95 : 1) };
    expect(p.decide({ ...strict, exits: sloppy }, p.init()).decision.dispatch?.subnet).toBe('mid');
    // exit-aware off: the view is ignored
    const blind = slackFit(T, { ...opts, exitAware: false });
    expect(blind.decide({ ...c, exits }, blind.init()).decision.dispatch?.subnet).not.toBe('slow');
  });
});
