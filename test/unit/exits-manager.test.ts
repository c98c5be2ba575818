import { describe, expect, it } from 'vitest';
import type { FeedbackRecord } from '../../src/exits/feedback.js';
import { exitLatencyOf, StageLatencies } from '../../src/exits/latency.js';
import { ExitManager, type ExitSettings, type SubnetExitSpec } from '../../src/exits/manager.js';
import { adjustRamps, DEFAULT_RAMPS, rampUtilities } from '../../src/exits/ramps.js';
import { DEFAULT_TUNER } from '../../src/exits/tuner.js';
import { Catalogue } from '../../src/supernet/catalogue.js';
import { loadProfile } from '../../src/supernet/profile-file.js';
import { SUPERNET_DIR } from '../helpers.js';

const C = 4;
const SPEC: SubnetExitSpec = {
  id: 'toy',
  stages: ['a', 'b', 'c'],
  classes: C,
  latency: new StageLatencies(new Map([[1, [1, 1, 1, 0.5]]])),
  rampStats: [
    { stage: 'a', top1: 0.9, agreement: 0.95 },
    { stage: 'b', top1: 0.9, agreement: 0.97 },
    { stage: 'c', top1: 0.9, agreement: 0.99 },
  ],
};
const SMALL: Partial<ExitSettings> = { chunkSamples: 32, windowSamples: 128, warmupSamples: 32, retuneSamples: 10_000, rampCheckSamples: 10_000, tuner: { ...DEFAULT_TUNER, safety: 0 } };

const rec = (loss: number[], pred: number[], finalPred = 0, extra: Partial<FeedbackRecord> = {}): FeedbackRecord => ({ loss, pred, finalPred, finalLoss: 0, ...extra });
/** Ramp a is right and sure on 3/4 of the inputs; the rest are unsure and wrong at every ramp. */
const easy = (k: number): FeedbackRecord[] => Array.from({ length: k }, (_, i) => (i % 4 === 3 ? rec([0.6, 0.5, 0.5], [1, 1, 1]) : rec([0.001, 0.5, 0.5], [0, 0, 0])));
/** Logits of one row: `pred` gets `margin` over the other classes. */
const row = (pred: number, margin: number): number[] => Array.from({ length: C }, (_, k) => (k === pred ? margin : 0));

describe('ExitManager', () => {
  it('bootstraps active ramps from the manifest statistics and exits nothing before feedback', () => {
    const m = new ExitManager([SPEC], SMALL);
    const s = m.snapshotOf('toy');
    expect(s.active.length).toBeGreaterThan(0);
    expect(s.active).not.toContain('c'); // the last ramp saves only the head
    expect(Object.values(s.thresholds).every((t) => t === 0)).toBe(true);
    expect(m.expectedLatencyMs('toy', 1)).toBe(3.5);
    expect(JSON.parse(JSON.stringify(m.snapshot()))).toHaveLength(1);
  });

  it('releases early answers equal to the ramp argmax, once, and feeds every row back', () => {
    const m = new ExitManager([SPEC], SMALL);
    expect(m.feedback('toy', easy(32)).retuned).toBe(true);
    const tau = m.snapshotOf('toy').thresholds.a as number;
    expect(tau).toBeGreaterThan(0.001);
    const b = m.begin('toy', 3);
    const a = Float32Array.from([...row(2, 12), ...row(1, 0.2), ...row(3, 15)]);
    const out = b.stage('a', a);
    expect(out.map((r) => [r.row, r.prediction, r.ramp, r.releasedAfter, r.deadline])).toEqual([
      [0, 2, 0, 0, false],
      [2, 3, 0, 0, false],
    ]);
    for (const r of out) expect(r.loss).toBeLessThan(tau);
    expect(b.stage(1, Float32Array.from([...row(2, 20), ...row(1, 0.2), ...row(0, 20)]))).toEqual([]); // already released
    b.stage('c', Float32Array.from([...row(2, 1), ...row(1, 1), ...row(3, 1)]));
    const before = m.snapshotOf('toy').feedback;
    b.finish(Float32Array.from([...row(2, 5), ...row(1, 5), ...row(3, 5)]));
    m.feedback('toy', easy(29)); // completes the chunk
    expect(m.snapshotOf('toy').feedback).toBe(before + 32);
    // without a batch: the threshold rule on this ramp alone
    expect(m.decide('toy', 'a', Float32Array.from([...row(1, 12), ...row(1, 0.1)])).map((r) => [r.row, r.prediction])).toEqual([[0, 1]]);
  });

  it('answers a deadline with the best ramp seen so far, flagged, and never twice', () => {
    const m = new ExitManager([SPEC], SMALL);
    const b = m.begin('toy', 2);
    b.stage('a', Float32Array.from([...row(1, 0.5), ...row(2, 0.1)]));
    b.stage('b', Float32Array.from([...row(3, 4), ...row(0, 0.05)]));
    expect(b.deadline(7, [0])).toEqual([{ row: 0, prediction: 3, ramp: 1, stage: 'b', releasedAfter: 1, loss: expect.any(Number), deadline: true, atMs: 7 }]);
    const rest = b.deadline(8);
    expect(rest.map((r) => [r.row, r.prediction, r.ramp, r.deadline])).toEqual([[1, 2, 0, true]]); // ramp a was surer for row 1
    expect(b.deadline(9)).toEqual([]);
    expect(b.stage('c', Float32Array.from([...row(3, 30), ...row(0, 30)]))).toEqual([]);
    b.finish(Float32Array.from([...row(3, 5), ...row(0, 5)]));
    expect(m.snapshotOf('toy').deadlineAnswers).toBe(2);
  });

  it('switches the failing ramp off after two violating feedback batches', () => {
    const m = new ExitManager([SPEC], SMALL);
    m.feedback('toy', easy(32));
    expect(m.snapshotOf('toy').thresholds.a).toBeGreaterThan(0);
    // ramp a released wrong answers for 10 of 32 inputs
    const bad = (): FeedbackRecord[] => Array.from({ length: 32 }, (_, i) => (i < 10 ? rec([0.0005, 0.5, 0.5], [2, 0, 0], 0, { exitedAt: 0 }) : easy(1)[0]!));
    const first = m.feedback('toy', bad());
    expect(first.violations).toBe(1);
    expect(first.emergencyOff).toEqual([]);
    expect(first.retuned).toBe(true);
    const second = m.feedback('toy', bad());
    expect(second.violations).toBe(1);
    expect(second.emergencyOff).toEqual(['a']);
    const s = m.snapshotOf('toy');
    expect(s.thresholds.a).toBe(0);
    expect(s.emergencyOff).toEqual(['a']);
    expect(s.emergencies).toBe(1);
    expect(s.violations).toBe(2);
  });

  it('estimates exit latency and early accuracy from feedback', () => {
    const m = new ExitManager([SPEC], SMALL);
    m.feedback('toy', easy(64).map((r, i) => ({ ...r, label: i % 8 === 0 ? 1 : 0 })));
    // 3/4 exit after stage a (1 ms), the rest run to the end (3.5 ms)
    expect(m.expectedLatencyMs('toy', 1)).toBeCloseTo(0.75 * 1 + 0.25 * 3.5, 9);
    expect(m.expectedLatencyMs('toy', 1, 0.5)).toBe(1);
    expect(m.expectedLatencyMs('toy', 1, 0.9)).toBe(3.5);
    const acc = m.earlyAccuracy('toy');
    expect(acc.vsFinal).toBe(1);
    expect(acc.earlyShare).toBeCloseTo(0.75, 9);
    expect(acc.vsLabels).toBeCloseTo(7 / 8, 9);
  });

  it('runs the recall policy: the answer is a ramp already seen, released no earlier than it', () => {
    const m = new ExitManager([SPEC], { ...SMALL, policy: 'recall' });
    m.feedback('toy', easy(64));
    expect(m.snapshotOf('toy').lambda).not.toBeNull();
    const b = m.begin('toy', 2);
    const out = [
      ...b.stage('a', Float32Array.from([...row(2, 14), ...row(1, 0.1)])),
      ...b.stage('b', Float32Array.from([...row(2, 0.1), ...row(1, 0.1)])),
      ...b.stage('c', Float32Array.from([...row(2, 0.1), ...row(3, 0.1)])),
    ];
    expect(out.find((r) => r.row === 0)).toMatchObject({ prediction: 2, ramp: 0 });
    for (const r of out) expect(r.releasedAfter).toBeGreaterThanOrEqual(r.ramp);
    expect(() => m.decide('toy', 'a', Float32Array.from(row(0, 1)))).toThrow(/BatchExits/);
  });

  it('builds specs for the served subnets from the committed manifest and profile', () => {
    const cat = Catalogue.load(SUPERNET_DIR);
    const profile = loadProfile(`${SUPERNET_DIR}/profiles/cpu-2core.json`);
    const m = ExitManager.fromProfile(cat.subnets, cat.numClasses, profile);
    expect(m.subnets.length).toBe(profile.subnets.length);
    const s = m.snapshotOf('r28_d333_w32-64-128');
    expect(s.active.length).toBeGreaterThan(0);
    expect(s.active.length).toBeLessThanOrEqual(3);
    expect(s.fullLatencyMs).toBeCloseTo(1.988, 3);
  });
});

describe('ramp adjustment (slow loop)', () => {
  const lat = exitLatencyOf([1, 1, 1, 0.5]);
  const cost = [0.02, 0.02, 0.02];
  // ramp 0 releases half the inputs; ramp 1 is active but never confident enough
  const records = Array.from({ length: 100 }, (_, i) => rec([i % 2 ? 0.5 : 0.01, 0.5, 0.5], [0, 0, 0]));

  it('measures utility = savings - overhead per active ramp', () => {
    const u = rampUtilities({ records, thresholds: [0.1, 0.1, 0], active: [0, 1], latency: lat, rampCost: cost });
    expect(u.get(0)?.exitRate).toBe(0.5);
    expect(u.get(0)?.savingsMs).toBeCloseTo(0.5 * (2 - 1), 12); // next exit point: ramp 1 at 2 ms
    expect(u.get(1)?.savingsMs).toBe(0);
    expect(u.get(1)?.utilityMs).toBeCloseTo(-0.5 * 0.02, 12);
  });

  it('deactivates a ramp whose recent utilities are all <= 0', () => {
    const req = {
      records,
      thresholds: [0.1, 0.1, 0],
      active: [0, 1],
      candidates: [0, 1],
      latency: lat,
      rampCost: cost,
      tuner: DEFAULT_TUNER,
      settings: DEFAULT_RAMPS,
    };
    const once = adjustRamps({ ...req, history: new Map() });
    expect(once.removed).toEqual([]); // one measurement is not "all recent"
    const twice = adjustRamps({ ...req, history: once.history });
    expect(twice.removed).toEqual([1]);
    expect(twice.active).toEqual([0]);
    expect(twice.tuned).not.toBeNull();
  });

  it('activates a candidate that cuts mean latency, within the overhead budget', () => {
    const r = adjustRamps({
      records,
      thresholds: [0, 0, 0],
      active: [],
      candidates: [0, 1],
      history: new Map(),
      latency: lat,
      rampCost: cost,
      tuner: DEFAULT_TUNER,
      settings: DEFAULT_RAMPS,
    });
    expect(r.added).toEqual([0]);
    expect(r.tuned?.thresholds[0]).toBeGreaterThan(0.01);
    const none = adjustRamps({ records, thresholds: [0, 0, 0], active: [], candidates: [0], history: new Map(), latency: lat, rampCost: [1, 1, 1], tuner: DEFAULT_TUNER, settings: DEFAULT_RAMPS });
    expect(none.added).toEqual([]); // 1 ms per ramp is over 5% of 3.5 ms
  });
});
