import { describe, expect, it } from 'vitest';
import { batchConfidence, rowConfidence } from '../../src/exits/softmax.js';
import { decideExits, evaluateThresholds, exitRampOf } from '../../src/exits/thresholds.js';
import { exitLatencyOf, StageLatencies } from '../../src/exits/latency.js';
import { recordsFromLogits, FeedbackWindow } from '../../src/exits/feedback.js';
import { oracleExit } from '../../src/exits/oracle.js';
import { deadlineAnswer } from '../../src/exits/deadline.js';
import { isotonic } from '../../src/exits/calibration.js';

describe('softmax', () => {
  it('gives argmax and 1 - max softmax, precisely for confident rows', () => {
    const logits = Float32Array.from([1, 3, 2, 0, /* row 2 */ 40, 0, 0, 0]);
    const c = batchConfidence(logits, 4);
    expect(Array.from(c.pred)).toEqual([1, 0]);
    const e = [1, 3, 2, 0].map((v) => Math.exp(v));
    expect(c.loss[0]).toBeCloseTo(1 - e[1]! / e.reduce((a, b) => a + b), 12);
    // 1 - p_max would round to 0 in double precision; the loss keeps it
    expect(c.loss[1]).toBeGreaterThan(0);
    expect(c.loss[1]).toBeCloseTo(3 * Math.exp(-40), 25);
    expect(rowConfidence(Float32Array.from([5, 5, 1]), 3, 0).pred).toBe(0); // first on ties
  });
});

describe('threshold policy', () => {
  it('exits at the first active ramp below its threshold; tau = 0 never exits', () => {
    expect(exitRampOf([0.05, 0.01, 0.0], [0, 0.02, 0.5])).toBe(1);
    expect(exitRampOf([0.05, 0.03, 0.0], [0, 0.02, 0])).toBe(-1);
    const ramp0 = Float32Array.from([10, 0, 0, /**/ 1, 1.1, 1]);
    const ramp1 = Float32Array.from([0, 9, 0, /**/ 0, 0, 12]);
    const d = decideExits([ramp0, ramp1], 3, [0.01, 0.01]);
    expect(d.map((x) => [x.exit, x.ramp, x.prediction])).toEqual([
      [true, 0, 0],
      [true, 1, 2],
    ]);
    expect(decideExits([ramp0], 3, [0, 0.5]).every((x) => !x.exit)).toBe(true);
  });

  it('scores accuracy against the final output and latency from the stage profile', () => {
    const lat = exitLatencyOf([1, 2, 3, 0.5]);
    expect(Array.from(lat.toRamp)).toEqual([1, 3, 6]);
    expect(lat.full).toBe(6.5);
    const rows = [
      { loss: [0.001, 0.5, 0.5], pred: [1, 1, 1], finalPred: 1, finalLoss: 0 },
      { loss: [0.001, 0.5, 0.5], pred: [2, 1, 1], finalPred: 1, finalLoss: 0 },
      { loss: [0.5, 0.5, 0.5], pred: [2, 1, 1], finalPred: 1, finalLoss: 0 },
    ];
    const e = evaluateThresholds(rows, [0.01, 0, 0], lat);
    expect(e.accuracy).toBeCloseTo(2 / 3, 12);
    expect(e.meanLatency).toBeCloseTo((1 + 1 + 6.5) / 3, 12);
    expect(oracleExit(rows[0]!)).toBe(0);
    expect(oracleExit(rows[1]!)).toBe(1);
  });

  it('interpolates stage latencies between profiled batch sizes', () => {
    const s = new StageLatencies(
      new Map([
        [1, [1, 1, 0.5]],
        [4, [4, 2, 1]],
      ]),
    );
    expect(s.stageMs(2)).toEqual([2, 4 / 3, 2 / 3]);
    expect(s.stageMs(8)).toEqual([8, 4, 2]);
    expect(s.at(1).full).toBe(2.5);
  });
});

describe('feedback', () => {
  it('builds records from logits and keeps a sliding window', () => {
    const recs = recordsFromLogits([Float32Array.from([0, 5, 0, 0])], Float32Array.from([0, 6, 3, 0]), 2, { labels: [1, 0], exitedAt: [0, -1] });
    expect(recs.map((r) => [r.pred[0], r.finalPred, r.label, r.exitedAt])).toEqual([
      [1, 1, 1, 0],
      [0, 0, 0, -1],
    ]);
    const w = new FeedbackWindow(3);
    w.push([...recs, ...recs]);
    expect(w.size).toBe(3);
    expect(w.total).toBe(4);
    expect(w.records()[2]).toBe(recs[1]);
    expect(w.latest(1)[0]).toBe(recs[1]);
  });

  it('calibration is made monotone by pool-adjacent-violators', () => {
    expect(isotonic([0.1, 0.3, 0.2, 0.4], [1, 1, 1, 1]).map((x) => +x.toFixed(3))).toEqual([0.1, 0.25, 0.25, 0.4]);
  });
});

describe('deadline answers', () => {
  it('return the lowest-loss ramp seen, flagged, or nothing before the first ramp', () => {
    expect(deadlineAnswer([], 5)).toBeNull();
    const a = deadlineAnswer(
      [
        { ramp: 0, prediction: 3, loss: 0.2 },
        { ramp: 1, prediction: 4, loss: 0.05 },
        { ramp: 2, prediction: 5, loss: 0.3 },
      ],
      12.5,
    );
    expect(a).toEqual({ prediction: 4, ramp: 1, loss: 0.05, deadline: true, atMs: 12.5 });
  });
});
