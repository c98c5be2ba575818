import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SlackserveError } from '../../src/errors.js';
import { LatencyTable } from '../../src/scheduler/latency-table.js';
import { buildPolicy } from '../../src/scheduler/registry.js';
import { EXIT_MODEL_FORMAT, ExitModel } from '../../src/sim/exit-model.js';
import { SimRng } from '../../src/sim/rng.js';
import { Fate, simulate, type SimArrivals } from '../../src/sim/simulator.js';
import { summarize } from '../../src/sim/summary.js';
import { loadProfile } from '../../src/supernet/profile-file.js';
import { PROFILE_FORMAT, type Profile } from '../../src/supernet/profile-file.js';

const SIZES = [1, 2, 4, 8, 16, 32, 64];

/** One subnet "s": three stages of 1 ms and a 1 ms head at every batch size (staged = 4 ms), whole 3 ms. */
const PROFILE: Profile = {
  format: PROFILE_FORMAT,
  supernet: 'synthetic',
  date: '2026-01-01T00:00:00Z',
  machine: 'test',
  onnxruntime: 'n/a',
  settings: { threads: 1, intraOpThreads: 1, executionProvider: 'cpu', spinning: false, encoding: 'branched' },
  repeats: 1,
  batch_sizes: SIZES,
  subnets: [
    {
      id: 's',
      top1: 0.9,
      macs: 1,
      whole: Object.fromEntries(SIZES.map((b) => [String(b), { p50: 3, p95: 3.6 }])),
      staged: Object.fromEntries(SIZES.map((b) => [String(b), { p50: 4, p95: 4.8 }])),
      stages: Object.fromEntries(SIZES.map((b) => [String(b), ['s0', 's1', 's2', 'head'].map((stage) => ({ stage, p50: 1 }))])),
    },
  ],
  variant_load_ms: {},
} as unknown as Profile;
const T = LatencyTable.fromProfile(PROFILE, { quantile: 'p50' });

const RAW = {
  format: EXIT_MODEL_FORMAT,
  source: 'hand-built',
  policy: { kind: 'threshold', budget: 0.01 },
  subnets: { s: { stages: ['s0', 's1', 's2'], share: [0.5, 0, 0.25, 0.25], top1: [0.99, 0.5, 0.9, 0.8], late_top1: [0.6, 0.7, 0.75], agreement: 0.99 } },
};
const MODEL = ExitModel.from(RAW);

function arrivals(times: number[], slo: number): SimArrivals {
  return { t_ms: Float64Array.from(times), slo_ms: new Float64Array(times.length).fill(slo), min_accuracy: new Float64Array(times.length).fill(NaN) };
}
/** Isolated requests: each runs alone (batch 1) on an idle worker. */
const spaced = (n: number): number[] => Array.from({ length: n }, (_, i) => i * 10);
const opts = { workers: 1, noise: false, dispatchOverheadMs: 0, admission: 'off' as const, seed: 7 };

describe('exit model', () => {
  it('rejects a malformed file with PROFILE_INVALID and the path', () => {
    const dir = mkdtempSync(join(tmpdir(), 'exitmodel-'));
    const bad = (obj: unknown, name: string): SlackserveError => {
      const p = join(dir, name);
      writeFileSync(p, typeof obj === 'string' ? obj : JSON.stringify(obj));
      try {
        ExitModel.load(p);
      } catch (err) {
        expect(err).toBeInstanceOf(SlackserveError);
        expect((err as SlackserveError).code).toBe('PROFILE_INVALID');
        expect((err as Error).message).toContain(p);
        return err as SlackserveError;
      }
      throw new Error(`${name} was accepted`);
    };
    bad('{not json', 'syntax.json');
    bad({ ...RAW, format: 'other/1' }, 'format.json');
    bad({ ...RAW, subnets: { s: { ...RAW.subnets.s, share: [0.5, 0.5, 0.5, 0] } } }, 'sum.json');
    bad({ ...RAW, subnets: { s: { ...RAW.subnets.s, top1: [0.9, 0.9] } } }, 'length.json');
    bad({ ...RAW, subnets: { s: { ...RAW.subnets.s, agreement: 2 } } }, 'agreement.json');
    expect(bad({ ...RAW, subnets: { s: { ...RAW.subnets.s, late_top1: [0.5] } } }, 'late.json').message).toContain('late_top1');
  });

  it('loads the committed model for every profiled subnet', () => {
    const profile = loadProfile('supernets/fmnist-resnet/profiles/cpu-2core.json');
    const m = ExitModel.load('supernets/fmnist-resnet/profiles/exits-cpu-2core.json');
    for (const s of profile.subnets) expect(m.has(s.id)).toBe(true);
  });

  it('samples stages from the shares and computes the median answer fraction', () => {
    expect(MODEL.sampleStage('s', 0.1)).toBe(0);
    expect(MODEL.sampleStage('s', 0.5)).toBe(2); // share[1] = 0: never ramp 1
    expect(MODEL.sampleStage('s', 0.8)).toBe(3);
    expect(MODEL.sampleStage('unknown', 0.1)).toBe(-1);
    // median input exits at ramp 2: 3 ms of the 4 ms chain
    expect(MODEL.answerFraction(T, 's', 1)).toBeCloseTo(0.75, 10);
    const v = MODEL.view(T);
    expect(v.answerFraction('s')).toBeCloseTo(0.75, 10);
    expect(v.agreement('s')).toBe(0.99);
    expect(T.stagedStats(0, 5)).toEqual({ p50: 4, p95: 4.8 });
    expect(Array.from(T.stageCumMs(0, 3))).toEqual([1, 2, 3, 4]);
  });
});

describe('simulator with exits', () => {
  it('answers each request at its sampled exit (hand-computed, no noise)', () => {
    const n = 200;
    const run = simulate(arrivals(spaced(n), 100), T, buildPolicy('static:s', T), { ...opts, exits: MODEL });
    const rng = new SimRng(opts.seed); // no noise: the exit draws are the only draws
    const at = [1, 2, 3, 4];
    const top1 = [0.99, 0.5, 0.9, 0.8];
    for (let i = 0; i < n; i++) {
      const j = MODEL.sampleStage('s', rng.uniform());
      expect(run.status[i]).toBe(Fate.Served);
      expect((run.finish[i] as number) - i * 10).toBeCloseTo(at[j] as number, 10);
      expect(run.exits?.early[i]).toBe(j < 3 ? 1 : 0);
      expect(run.exits?.accuracy[i]).toBeCloseTo(top1[j] as number, 6);
      expect(run.exits?.deadline[i]).toBe(0);
    }
    const s = summarize(run);
    expect(s.early_share).toBeGreaterThan(0.6);
    expect(s.early_share).toBeLessThan(0.9);
    expect(s.deadline_answers).toBe(0);
  });

  it('gives deadline answers from the last finished ramp, counts and flags them', () => {
    const n = 200;
    // SLO 2.5 ms: exits at ramp 2 (3 ms) and the final output (4 ms) are too late; ramp 1 finished at 2 ms
    const run = simulate(arrivals(spaced(n), 2.5), T, buildPolicy('static:s', T), { ...opts, exits: MODEL });
    const rng = new SimRng(opts.seed);
    let expected = 0;
    for (let i = 0; i < n; i++) {
      const j = MODEL.sampleStage('s', rng.uniform());
      if (j >= 2) {
        expected++;
        expect(run.exits?.deadline[i]).toBe(1);
        expect(run.exits?.early[i]).toBe(0);
        expect((run.finish[i] as number) - i * 10).toBeCloseTo(2.5, 10);
        expect(run.exits?.accuracy[i]).toBeCloseTo(0.7, 6);
      } else expect(run.exits?.deadline[i]).toBe(0);
    }
    const s = summarize(run);
    expect(expected).toBeGreaterThan(0);
    expect(s.deadline_answers).toBe(expected);
    expect(s.slo_attainment).toBe(1);
    // SLO 0.5 ms: no ramp finishes in time, so nothing is a deadline answer and exits at 1 ms are late
    const tight = summarize(simulate(arrivals(spaced(50), 0.5), T, buildPolicy('static:s', T), { ...opts, exits: MODEL }));
    expect(tight.deadline_answers).toBe(0);
    expect(tight.slo_attainment).toBe(0);
  });

  it('lowers mean answer latency at low load on a fixed subnet (committed profile and model)', () => {
    const profile = loadProfile('supernets/fmnist-resnet/profiles/cpu-2core.json');
    const table = LatencyTable.fromProfile(profile, { quantile: 'p95' });
    const model = ExitModel.load('supernets/fmnist-resnet/profiles/exits-cpu-2core.json');
    const a = arrivals(spaced(2000), 36); // 100 req/s
    const off = summarize(simulate(a, table, buildPolicy('static-largest', table), { workers: 2, seed: 3 }));
    const on = summarize(simulate(a, table, buildPolicy('static-largest', table), { workers: 2, seed: 3, exits: model }));
    expect(on.early_share).toBeGreaterThan(0.5);
    expect(on.mean_latency_ms as number).toBeLessThan(off.mean_latency_ms as number);
    expect(on.mean_served_accuracy as number).toBeLessThan(off.mean_served_accuracy as number);
    expect(on.mean_served_accuracy as number).toBeGreaterThan((off.mean_served_accuracy as number) - 0.02);
  });

  it('is deterministic under a seed with exits and noise', () => {
    const a = arrivals(
      Array.from({ length: 3000 }, (_, i) => i * 0.7),
      6,
    );
    const run = (seed: number) => simulate(a, T, buildPolicy('slackfit', T), { workers: 1, seed, exits: MODEL });
    const x = run(4);
    const y = run(4);
    const z = run(5);
    expect(Array.from(x.finish)).toEqual(Array.from(y.finish));
    expect(Array.from(x.exits?.accuracy ?? [])).toEqual(Array.from(y.exits?.accuracy ?? []));
    expect(Array.from(x.finish)).not.toEqual(Array.from(z.finish));
  });

  it('without a model, results are identical to a run without the option', () => {
    const a = arrivals(
      Array.from({ length: 3000 }, (_, i) => i * 0.7),
      6,
    );
    const x = simulate(a, T, buildPolicy('slackfit', T), { workers: 1, seed: 4 });
    const y = simulate(a, T, buildPolicy('slackfit', T), { workers: 1, seed: 4, exits: undefined });
    expect(x.exits).toBeUndefined();
    expect(Array.from(x.finish)).toEqual(Array.from(y.finish));
    expect(Array.from(x.subnet)).toEqual(Array.from(y.subnet));
    const sx = summarize(x);
    expect(sx.early_share).toBe(0);
    expect(sx.deadline_answers).toBe(0);
    // staged latency is not used without exits: every batch takes the whole-graph 3 ms
    const one = simulate(arrivals([0], 100), T, buildPolicy('static:s', T), opts);
    expect(one.finish[0]).toBe(3);
  });
});
