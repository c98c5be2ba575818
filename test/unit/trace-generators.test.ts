import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_MAF_FILE, generateFromFlags, parseClasses } from '../../src/cli/trace-commands.js';
import { readTraceFile, type TraceRequest } from '../../src/trace/format.js';
import { bursty, loadMafCounts, maf, onOff, parseMafCounts, poisson, timeVarying } from '../../src/trace/generators.js';
import { Rng } from '../../src/trace/rng.js';
import { traceStats } from '../../src/trace/stats.js';

const dir = mkdtempSync(join(tmpdir(), 'slackserve-maf-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const times = (reqs: readonly TraceRequest[]) => reqs.map((r) => r.t_ms);
const countIn = (reqs: readonly TraceRequest[], fromMs: number, toMs: number) => reqs.filter((r) => r.t_ms >= fromMs && r.t_ms < toMs).length;
const within = (actual: number, target: number, rel: number) => expect(Math.abs(actual / target - 1), `${actual} vs ${target}`).toBeLessThan(rel);

/** Sample mean and variance of n draws. */
function moments(n: number, draw: () => number): { mean: number; variance: number } {
  let s = 0;
  let s2 = 0;
  for (let i = 0; i < n; i++) {
    const x = draw();
    s += x;
    s2 += x * x;
  }
  return { mean: s / n, variance: s2 / n - (s / n) ** 2 };
}

describe('Rng', () => {
  it('is deterministic for a seed and differs across seeds and streams', () => {
    const draw = (seed: number, stream = 0) => {
      const r = new Rng(seed, stream);
      return Array.from({ length: 5 }, () => r.nextUint32());
    };
    expect(draw(42)).toEqual(draw(42));
    expect(draw(42)).not.toEqual(draw(43));
    expect(draw(42)).not.toEqual(draw(42, 1));
    const r = new Rng(7);
    const us = Array.from({ length: 10_000 }, () => r.uniform());
    expect(us.every((u) => u >= 0 && u < 1)).toBe(true);
    within(us.reduce((a, b) => a + b, 0) / us.length, 0.5, 0.02);
  });

  it('draws Gamma and Poisson with the right mean and variance', () => {
    const r = new Rng(1);
    for (const [shape, scale] of [[0.125, 8], [0.5, 2], [3, 0.5]] as const) {
      const m = moments(100_000, () => r.gamma(shape, scale));
      within(m.mean, shape * scale, 0.05);
      within(m.variance, shape * scale * scale, 0.15);
    }
    for (const mean of [0.3, 4, 37.5, 5000]) {
      const m = moments(50_000, () => r.poisson(mean));
      within(m.mean, mean, 0.02);
      within(m.variance, mean, 0.05);
    }
    within(moments(100_000, () => r.exponential(4)).mean, 0.25, 0.02);
  });
});

describe('generators', () => {
  it('poisson hits the rate with CV² 1, deterministic for a seed', () => {
    const o = { rate: 2000, durationS: 100, sloMs: 50, seed: 11 };
    const reqs = poisson(o);
    const s = traceStats(reqs);
    within(s.count / o.durationS, 2000, 0.03);
    within(s.interarrival_cv2, 1, 0.1);
    expect(reqs.every((r) => r.slo_ms === 50 && r.class === 'default' && r.priority === 0 && r.min_accuracy === undefined)).toBe(true);
    const small = { ...o, durationS: 2 };
    expect(poisson(small)).toEqual(poisson(small));
    expect(times(poisson(small))).not.toEqual(times(poisson({ ...small, seed: 12 })));
  });

  it.each([2, 4, 8])('bursty: the Gamma stream has CV² %i and the total rate is base + burst', (cv2) => {
    const burst = traceStats(bursty({ baseRate: 0, burstRate: 2000, cv2, durationS: 100, sloMs: 36, seed: cv2 }));
    within(burst.interarrival_cv2, cv2, 0.15);
    within(burst.count / 100, 2000, 0.03);
    const both = bursty({ baseRate: 1500, burstRate: 1000, cv2, durationS: 40, sloMs: 36, seed: cv2 });
    within(both.length / 40, 2500, 0.03);
    // the base stream is evenly spaced: 60,000 arrivals on the 2/3 ms grid (to the µs rounding),
    // plus the few Gamma arrivals that land within 1 µs of it by chance
    const onGrid = both.filter((r) => Math.abs(r.t_ms * 1.5 - Math.round(r.t_ms * 1.5)) < 1.5e-3).length;
    expect(onGrid).toBeGreaterThanOrEqual(60_000);
    expect(onGrid).toBeLessThan(60_000 + 0.01 * 40_000);
    expect(times(both)).toEqual([...times(both)].sort((a, b) => a - b));
  });

  it('bursty differs across seeds and repeats for a seed', () => {
    const o = { baseRate: 100, burstRate: 400, cv2: 4, durationS: 5, sloMs: 36, seed: 1 };
    expect(bursty(o)).toEqual(bursty(o));
    expect(times(bursty(o))).not.toEqual(times(bursty({ ...o, seed: 2 })));
  });

  it('time-varying ramps from rate1 to rate2 at tau and then holds', () => {
    const up = timeVarying({ rate1: 1000, rate2: 5000, tau: 1000, cv2: 1, durationS: 20, sloMs: 36, seed: 5 });
    // during the first second the rate climbs 1000 -> 2000: 1500 arrivals expected
    within(countIn(up, 0, 1000), 1500, 0.08);
    within(countIn(up, 15_000, 20_000) / 5, 5000, 0.03);
    within(countIn(up, 19_000, 20_000), 5000, 0.06);
    const down = timeVarying({ rate1: 4000, rate2: 1000, tau: 3000, cv2: 1, durationS: 10, sloMs: 36, seed: 5 });
    within(countIn(down, 0, 500), 0.5 * (4000 - 3000 * 0.25), 0.1);
    within(countIn(down, 5000, 10_000) / 5, 1000, 0.05);
    const o = { rate1: 100, rate2: 300, tau: 50, cv2: 8, durationS: 5, sloMs: 36, seed: 1 };
    expect(timeVarying(o)).toEqual(timeVarying(o));
    expect(times(timeVarying(o))).not.toEqual(times(timeVarying({ ...o, seed: 2 })));
  });

  it('on-off alternates quiet and burst phases at their own Poisson rates', () => {
    const o = { lowRate: 50, lowS: 3, highRate: 2000, highS: 1, durationS: 40, sloMs: 100, seed: 3 };
    const r = onOff(o);
    // phases: quiet [0, 3) s, burst [3, 4) s, quiet [4, 7) s, ... ten full cycles in 40 s
    let quiet = 0;
    let burst = 0;
    for (let c = 0; c < 10; c++) {
      quiet += countIn(r, c * 4000, c * 4000 + 3000);
      burst += countIn(r, c * 4000 + 3000, c * 4000 + 4000);
    }
    within(quiet / 30, 50, 0.1);
    within(burst / 10, 2000, 0.03);
    // a burst's rate holds to its edges: no arrivals leak from one phase's rate into the next
    within(countIn(r, 3000, 3100) + countIn(r, 7000, 7100) + countIn(r, 11_000, 11_100), 600, 0.15);
    expect(countIn(r, 2900, 3000) + countIn(r, 6900, 7000) + countIn(r, 10_900, 11_000)).toBeLessThan(40);
    // inside a phase the gaps are exponential (CV² 1)
    const gaps = times(r.filter((x) => x.t_ms >= 3000 && x.t_ms < 4000)).slice(1).map((t, i, a) => t - (i === 0 ? 3000 : (a[i - 1] as number)));
    const m = gaps.reduce((a, g) => a + g, 0) / gaps.length;
    const v = gaps.reduce((a, g) => a + (g - m) ** 2, 0) / gaps.length;
    expect(v / m ** 2).toBeGreaterThan(0.75);
    expect(v / m ** 2).toBeLessThan(1.3);
    expect(r.every((x, i) => i === 0 || x.t_ms >= (r[i - 1] as TraceRequest).t_ms)).toBe(true);
    expect(onOff(o)).toEqual(onOff(o));
    expect(times(onOff(o))).not.toEqual(times(onOff({ ...o, seed: 4 })));
    // a silent quiet phase: every arrival falls in a burst
    const silent = onOff({ ...o, lowRate: 0, durationS: 8 });
    expect(silent.every((x) => (x.t_ms % 4000) >= 3000)).toBe(true);
    expect(() => onOff({ ...o, highS: 0 })).toThrow(/highS must be a number of seconds > 0/);
  });

  it('labels requests by class with the seeded shares, leaving arrival times unchanged', () => {
    const base = { rate: 1000, durationS: 20, seed: 3 };
    const classes = [{ name: 'gold', share: 1, sloMs: 20, minAccuracy: 0.9, priority: 1 }, { name: 'bulk', share: 3, sloMs: 200 }];
    const plain = poisson({ ...base, sloMs: 50, minAccuracy: 0.5 });
    const mixed = poisson({ ...base, classes, minAccuracy: 0.5 });
    expect(times(mixed)).toEqual(times(plain));
    const gold = mixed.filter((r) => r.class === 'gold');
    within(gold.length / mixed.length, 0.25, 0.05);
    expect(gold.every((r) => r.slo_ms === 20 && r.min_accuracy === 0.9 && r.priority === 1)).toBe(true);
    expect(mixed.filter((r) => r.class === 'bulk').every((r) => r.slo_ms === 200 && r.min_accuracy === 0.5 && r.priority === 0)).toBe(true);
    expect(mixed.map((r) => r.class)).not.toEqual(poisson({ ...base, seed: 4, classes }).map((r) => r.class).slice(0, mixed.length));
  });

  it.each([
    ['a zero rate', () => poisson({ rate: 0, durationS: 1, sloMs: 1, seed: 1 }), /poisson: rate must be/],
    ['no SLO', () => poisson({ rate: 1, durationS: 1, seed: 1 }), /give sloMs or classes/],
    ['a bad cv2', () => bursty({ baseRate: 1, burstRate: 1, cv2: -1, durationS: 1, sloMs: 1, seed: 1 }), /bursty: cv2 must be > 0/],
    ['a bad class', () => poisson({ rate: 1, durationS: 1, seed: 1, classes: [{ name: 'a b', share: 1, sloMs: 1 }] }), /class name "a b"/],
    ['a huge trace', () => poisson({ rate: 1e6, durationS: 1e3, sloMs: 1, seed: 1 }), /more than the 20000000/],
    ['empty counts', () => maf({ counts: [], meanRate: 1, durationS: 1, sloMs: 1, seed: 1 }), /maf: counts is empty/],
  ])('rejects %s with TRACE_INVALID', (_what, call, message) => {
    expect(call).toThrow(message);
    expect(call).toThrow(expect.objectContaining({ code: 'TRACE_INVALID' }));
  });
});

describe('MAF (Azure Functions 2019)', () => {
  let counts: number[] = [];
  beforeAll(async () => {
    counts = await loadMafCounts(DEFAULT_MAF_FILE);
  });

  it('sums the bundled 1,350-function day to the published per-minute totals', () => {
    expect(counts.length).toBe(1440);
    expect(counts.reduce((a, b) => a + b, 0)).toBe(996_503);
    expect(Math.max(...counts)).toBe(1611);
    expect(Math.min(...counts)).toBe(480);
  });

  it('keeps the shape of the day: mean rate, peak-to-mean and per-minute correlation', () => {
    const o = { counts, durationS: 144, meanRate: 5000, sloMs: 50, seed: 1 };
    const reqs = maf(o);
    within(reqs.length / 144, 5000, 0.03);
    const bins = new Int32Array(1440); // compressed minutes are 100 ms long
    for (const r of reqs) {
      const k = Math.min(1439, Math.floor(r.t_ms / 100));
      bins[k] = (bins[k] as number) + 1;
    }
    const perMinute = Array.from(bins);
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    const sourcePeak = Math.max(...counts) / mean(counts);
    expect(sourcePeak).toBeCloseTo(2.33, 2);
    within(Math.max(...perMinute) / mean(perMinute), sourcePeak, 0.15);
    const mx = mean(counts);
    const my = mean(perMinute);
    let sxy = 0;
    let sxx = 0;
    let syy = 0;
    counts.forEach((x, i) => {
      const y = perMinute[i] as number;
      sxy += (x - mx) * (y - my);
      sxx += (x - mx) ** 2;
      syy += (y - my) ** 2;
    });
    expect(sxy / Math.sqrt(sxx * syy)).toBeGreaterThan(0.95);
    const small = { ...o, durationS: 10, meanRate: 200 };
    expect(maf(small)).toEqual(maf(small));
    expect(times(maf(small))).not.toEqual(times(maf({ ...small, seed: 2 })));
  });

  it('the bundled traces/maf-120s.csv.gz is exactly what traces/README.md says generated it', async () => {
    const bundled = await readTraceFile('traces/maf-120s.csv.gz');
    expect(bundled).toEqual(maf({ counts, durationS: 120, meanRate: 1500, sloMs: 50, seed: 1 }));
  });

  it('reads both layouts and selects all, the top N or listed hashes', async () => {
    // dirigent layout: HashOwner,HashApp,HashFunction,Trigger then minute numbers
    const dirigent = ['HashOwner,HashApp,HashFunction,Trigger,480,481,482', 'o1,a1,f1,http,1,2,3', 'o2,a2,f2,timer,10,0,0', 'o3,a3,f3,queue,0,5,9'].join('\n');
    const invitro = ['HashFunction,HashOwner,HashApp,1_minute,2_minute,3_minute', 'f1,o1,a1,1,2,3', 'f2,o2,a2,10,0,0', 'f3,o3,a3,0,5,9', ''].join('\r\n');
    for (const text of [dirigent, invitro]) {
      expect(parseMafCounts(text, 'x')).toEqual([11, 7, 12]);
      expect(parseMafCounts(text, 'x', { functions: 1 })).toEqual([0, 5, 9]);
      expect(parseMafCounts(text, 'x', { functions: 2 })).toEqual([10, 5, 9]);
      expect(parseMafCounts(text, 'x', { functions: ['f1', 'f2'] })).toEqual([11, 2, 3]);
      expect(() => parseMafCounts(text, 'x', { functions: ['f9'] })).toThrow(/no function with hash f9/);
      expect(() => parseMafCounts(text, 'x', { functions: 4 })).toThrow(/top 4 functions, the file has 3/);
    }
    expect(() => parseMafCounts('HashFunction,1,3\nf,1,2\n', 'x')).toThrow(/x line 1: minute columns are not consecutive/);
    expect(() => parseMafCounts('a,b\n1,2\n', 'x')).toThrow(/not an Azure Functions 2019 per-minute file/);
    expect(() => parseMafCounts('HashFunction,1,2\nf,1,-2\n', 'x')).toThrow(/x line 2: count "-2" in column 2/);
    const path = join(dir, 'inv.csv');
    writeFileSync(path, dirigent);
    expect(await loadMafCounts(path, { functions: 'all' })).toEqual([11, 7, 12]);
    const top = await loadMafCounts(DEFAULT_MAF_FILE, { functions: 10 });
    expect(top.reduce((a, b) => a + b, 0)).toBeLessThan(996_503);
    expect(top.reduce((a, b) => a + b, 0)).toBeGreaterThan(996_503 / 135); // the top 10 carry more than an average 10
  });
});

describe('trace generate flags', () => {
  const flags = { out: 'unused.csv', duration: '2', seed: '1' };

  it('builds each generator from its flags and records them as provenance', async () => {
    const { reqs, provenance } = await generateFromFlags('bursty', { ...flags, baseRate: '100', burstRate: '200', cv2: '4', sloMs: '36' });
    expect(reqs).toEqual(bursty({ baseRate: 100, burstRate: 200, cv2: 4, durationS: 2, seed: 1, sloMs: 36 }));
    expect(provenance).toBe('slackserve trace generate bursty duration_s=2 seed=1 slo_ms=36 base_rate=100 burst_rate=200 cv2=4');
    const s = await generateFromFlags('on-off', { ...flags, lowRate: '20', lowS: '11', highRate: '320', highS: '1', sloMs: '100' });
    expect(s.reqs).toEqual(onOff({ lowRate: 20, lowS: 11, highRate: 320, highS: 1, durationS: 2, seed: 1, sloMs: 100 }));
    expect(s.provenance).toBe('slackserve trace generate on-off duration_s=2 seed=1 slo_ms=100 low_rate=20 low_s=11 high_rate=320 high_s=1');
    const m = await generateFromFlags('maf', { ...flags, meanRate: '300', functions: '5' });
    expect(m.reqs.length).toBeGreaterThan(400);
    expect(m.provenance).toContain('functions=5 minutes=1440');
    expect(parseClasses('gold:1:20:0.9:1,bulk:3:200')).toEqual([{ name: 'gold', share: 1, sloMs: 20, minAccuracy: 0.9, priority: 1 }, { name: 'bulk', share: 3, sloMs: 200 }]);
  });

  it.each([
    ['an unknown generator', 'uniform', {}, /unknown generator "uniform"/],
    ['a non-number', 'poisson', { rate: 'fast' }, /--rate "fast" is not a number > 0/],
    ['a missing rate', 'poisson', {}, /--rate is required here/],
    ['a flag of another generator', 'poisson', { rate: '5', cv2: '2' }, /--cv2 does not apply to the poisson generator/],
    ['a fractional seed', 'poisson', { rate: '5', seed: '1.5' }, /--seed "1.5" is not an integer/],
    ['both --slo-ms and --classes', 'poisson', { rate: '5', sloMs: '5', classes: 'a:1:5' }, /not both/],
    ['a malformed class', 'poisson', { rate: '5', classes: 'a:1' }, /--classes entry "a:1"/],
    ['a missing burst length', 'on-off', { lowRate: '5', lowS: '1', highRate: '50' }, /--high-s is required here/],
    ['a bad --functions', 'maf', { meanRate: '5', functions: 'top-ten' }, /--functions "top-ten"/],
  ])('rejects %s with TRACE_INVALID', async (_what, kind, extra, message) => {
    const run = generateFromFlags(kind, { ...flags, ...extra });
    await expect(run).rejects.toThrow(message);
    await expect(run).rejects.toMatchObject({ code: 'TRACE_INVALID' });
  });
});
