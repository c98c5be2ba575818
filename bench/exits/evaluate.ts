/**
 * Offline evaluation of the exit policies on real ramp outputs (collect.ts), three parts:
 *  1. low load: median latency with exits vs without for the same subnet, streaming the test set
 *     through the live ExitManager (threshold policy; recall alongside), batch 1;
 *  2. recall vs no recall: accuracy/latency Pareto curves on a held-out half (T-Tamer fitted on
 *     the other half, lambda swept; one global threshold swept; Apparate's tuned thresholds);
 *  3. the tuning loop under a distribution shift (easy classes, then shirts/pullovers/coats).
 * Accuracy is agreement with the subnet's final output (Apparate's measure) unless it says labels.
 *
 * Usage: node dist-bench/bench/exits/evaluate.js [--subnets a,b,c] [--seed 1] [--out bench/results/exits-evaluate.json]
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { Calibration } from '../../src/exits/calibration.js';
import { agrees, type FeedbackRecord } from '../../src/exits/feedback.js';
import { exitLatencyOf, latencyAt, type ExitLatency } from '../../src/exits/latency.js';
import { ExitManager, type ExitSettings } from '../../src/exits/manager.js';
import { oracleExit } from '../../src/exits/oracle.js';
import { binOf, buildTransitions, makeGrid, RecallPolicy, solveDynamicIndex } from '../../src/exits/recall.js';
import { evaluateThresholds, exitRampOf } from '../../src/exits/thresholds.js';
import { DEFAULT_TUNER, tuneThresholds } from '../../src/exits/tuner.js';
import { chartSvg, type Series } from '../../src/plot/svg.js';
import { Catalogue } from '../../src/supernet/catalogue.js';
import { loadProfile } from '../../src/supernet/profile-file.js';
import { DEFAULT_SUBNETS, loadCollected, shuffled } from './data.js';
import { streamThrough } from './stream.js';

const { values } = parseArgs({
  options: {
    supernet: { type: 'string', default: 'supernets/fmnist-resnet' },
    profile: { type: 'string', default: 'supernets/fmnist-resnet/profiles/cpu-2core.json' },
    subnets: { type: 'string', default: DEFAULT_SUBNETS.join(',') },
    seed: { type: 'string', default: '1' },
    out: { type: 'string', default: 'bench/results/exits-evaluate.json' },
    plots: { type: 'string', default: 'docs/exits' },
    safety: { type: 'string' },
    window: { type: 'string' },
  },
});
const seed = Number(values.seed);
const cat = Catalogue.load(values.supernet);
const profile = loadProfile(values.profile);
const ids = values.subnets.split(',');
mkdirSync(values.plots, { recursive: true });
const r4 = (v: number): number => Math.round(v * 1e4) / 1e4;
const median = (v: ArrayLike<number>): number => {
  const s = Float64Array.from(v).sort();
  const m = s.length >> 1;
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};
const mean = (v: ArrayLike<number>): number => {
  let t = 0;
  for (let i = 0; i < v.length; i++) t += v[i] as number;
  return t / (v.length || 1);
};
const latencyOf = (id: string, batch = 1): ExitLatency => {
  const p = profile.subnets.find((s) => s.id === id);
  const row = p?.stages[String(batch)];
  if (!row) throw new Error(`profile has no stage latencies for ${id} at batch ${batch}`);
  return exitLatencyOf(row.map((s) => s.p50));
};
/** Manager settings under test: the defaults, with --safety / --window when given. */
const base: Partial<ExitSettings> = {
  ...(values.safety !== undefined ? { tuner: { ...DEFAULT_TUNER, safety: Number(values.safety) } } : {}),
  ...(values.window !== undefined ? { windowSamples: Number(values.window) } : {}),
};
const managerFor = (settings: Partial<ExitSettings> = {}): ExitManager => ExitManager.fromProfile(cat.subnets, cat.numClasses, profile, { ...base, ...settings });

// ---------------------------------------------------------------- 1. low load, online
function lowLoad(id: string, records: readonly FeedbackRecord[]) {
  const lat = latencyOf(id);
  const stream = shuffled(records, seed);
  const run = (policy: 'threshold' | 'recall') => {
    const m = managerFor({ policy });
    const t0 = performance.now();
    const o = streamThrough(m, id, stream, lat, cat.numClasses, 1);
    const cpuMs = performance.now() - t0;
    const warm = m.settings.warmupSamples;
    const part = (a: number, b: number) => {
      const lats = o.latencyMs.subarray(a, b);
      const med = median(lats);
      return {
        inputs: b - a,
        median_ms: r4(med),
        mean_ms: r4(mean(lats)),
        median_reduction: r4(1 - med / lat.full),
        mean_reduction: r4(1 - mean(lats) / lat.full),
        accuracy_loss_vs_final: r4(1 - mean(o.agree.subarray(a, b))),
        top1_vs_labels: r4(mean(o.right.subarray(a, b))),
        released_early: r4(mean(Array.from(o.releasedAfter.subarray(a, b), (x) => (x >= 0 ? 1 : 0)))),
      };
    };
    const snap = m.snapshotOf(id);
    return {
      policy,
      all: part(0, stream.length),
      after_warmup: part(warm, stream.length),
      manager_cpu_ms_per_input: r4(cpuMs / stream.length),
      final_state: { active: snap.active, thresholds: snap.thresholds, lambda: snap.lambda, violations: snap.violations, emergencies: snap.emergencies, tunes: snap.tunes, ramp_changes: snap.rampChanges },
      expected_latency_ms_batch1: r4(m.expectedLatencyMs(id, 1)),
      expected_latency_ms_batch16: r4(m.expectedLatencyMs(id, 16)),
    };
  };
  const finalTop1 = mean(records.map((r) => (r.finalPred === r.label ? 1 : 0)));
  const oracle = records.map((r) => latencyAt(lat, oracleExit(r)));
  return {
    subnet: id,
    stages: lat.toRamp.length,
    no_exit_latency_ms: r4(lat.full),
    final_top1: r4(finalTop1),
    oracle_median_ms: r4(median(oracle)),
    threshold: run('threshold'),
    recall: run('recall'),
  };
}

// ---------------------------------------------------------------- 2. Pareto, held-out half
interface Point {
  readonly ms: number;
  readonly acc: number;
  readonly top1: number;
  readonly knob: number;
  /** Recall curves: share of inputs answered by an earlier exit than the last one run. */
  readonly earlier?: number;
}

/** Upper frontier of a curve: accuracy reachable at latency <= x (linear between frontier points). */
function frontierAt(points: readonly Point[], x: number): number {
  const s = [...points].sort((a, b) => a.ms - b.ms);
  const f: Point[] = [];
  for (const p of s) if (!f.length || p.acc > (f[f.length - 1] as Point).acc) f.push(p);
  if (!f.length || x < (f[0] as Point).ms) return NaN;
  for (let i = f.length - 1; i >= 0; i--) {
    const p = f[i] as Point;
    if (p.ms <= x) {
      const q = f[i + 1];
      if (!q) return p.acc;
      return p.acc + ((q.acc - p.acc) * (x - p.ms)) / (q.ms - p.ms);
    }
  }
  return NaN;
}

function pareto(id: string, records: readonly FeedbackRecord[]) {
  const lat = latencyOf(id);
  const n = lat.toRamp.length;
  const mixed = shuffled(records, seed + 1);
  const A = mixed.slice(0, mixed.length >> 1);
  const B = mixed.slice(mixed.length >> 1);
  const right = (r: FeedbackRecord, j: number): number => ((j < 0 ? r.finalPred : r.pred[j]) === r.label ? 1 : 0);

  // one global threshold on every ramp (no fitting)
  const taus = Array.from({ length: 44 }, (_, k) => 10 ** (-4 + (k * 4) / 43) * 0.9);
  const threshold: Point[] = taus.map((tau) => {
    const t = new Float64Array(n).fill(tau);
    const e = evaluateThresholds(B, t, lat);
    return { ms: e.meanLatency, acc: e.accuracy, top1: mean(B.map((r) => right(r, exitRampOf(r.loss, t)))), knob: tau };
  });
  threshold.push({ ms: lat.full, acc: 1, top1: mean(B.map((r) => right(r, -1))), knob: 0 });

  // Apparate: per-ramp thresholds hill-climbed on half A at several budgets (all ramps but the last may exit)
  const apparate: Point[] = [0.0025, 0.005, 0.01, 0.02, 0.04, 0.08].map((budget) => {
    const t = tuneThresholds({ records: A, active: Array.from({ length: n - 1 }, (_, j) => j), latency: lat }, { ...DEFAULT_TUNER, budget, safety: 0 });
    const e = evaluateThresholds(B, t.thresholds, lat);
    return { ms: e.meanLatency, acc: e.accuracy, top1: mean(B.map((r) => right(r, exitRampOf(r.loss, t.thresholds)))), knob: budget };
  });

  // T-Tamer: calibration and transitions from half A, lambda swept, evaluated on half B
  const recallCurve = (gridSize: number, proxy: 'calibrated' | 'raw', recall: boolean): Point[] => {
    const grid = makeGrid(gridSize);
    const cal = Calibration.fit(A, n);
    const proxies = (r: FeedbackRecord): Float64Array =>
      proxy === 'calibrated' ? cal.proxies(r) : Float64Array.from([...Array.from(r.loss), r.finalLoss]);
    const t = buildTransitions(A.map(proxies), grid);
    const costs = Float64Array.from({ length: n + 1 }, (_, i) => (latencyAt(lat, i < n ? i : -1) - (i > 0 ? (lat.toRamp[i - 1] as number) : 0)) / lat.full);
    const binsB = B.map((r) => Int32Array.from(proxies(r), (v) => binOf(grid, v)));
    return Array.from({ length: 48 }, (_, k) => -5 + (k * 19) / 47).map((z) => {
      const lambda = 1 / (1 + Math.exp(-z));
      const policy = new RecallPolicy(solveDynamicIndex(t, costs, lambda));
      let agree = 0;
      let ok = 0;
      let ms = 0;
      let earlier = 0;
      B.forEach((r, i) => {
        const { best, last } = policy.run(binsB[i] as Int32Array);
        if (best !== last) earlier++;
        const ans = recall ? best : last;
        const j = ans >= n ? -1 : ans;
        if (agrees(r, j)) agree++;
        ok += right(r, j);
        ms += latencyAt(lat, last >= n ? -1 : last);
      });
      return { ms: ms / B.length, acc: agree / B.length, top1: ok / B.length, knob: lambda, earlier: earlier / B.length };
    });
  };
  const recall = recallCurve(16, 'calibrated', true);
  const noRecall = recallCurve(16, 'calibrated', false);
  const ablations = {
    grid_8: recallCurve(8, 'calibrated', true),
    grid_32: recallCurve(32, 'calibrated', true),
    raw_proxy: recallCurve(16, 'raw', true),
  };
  const oracle: Point = { ms: mean(B.map((r) => latencyAt(lat, oracleExit(r)))), acc: 1, top1: mean(B.map((r) => right(r, oracleExit(r)))), knob: 0 };

  // recall vs the global threshold at each threshold point's latency
  const gaps = threshold.map((p) => ({ ms: p.ms, thr: p.acc, rec: frontierAt(recall, p.ms), gap: frontierAt(recall, p.ms) - p.acc })).filter((g) => Number.isFinite(g.gap));
  const high = gaps.filter((g) => g.thr >= 0.99);
  const low = gaps.filter((g) => g.thr < 0.99);
  const minLatencyAt = (curve: readonly Point[], acc: number): number => Math.min(...curve.filter((p) => p.acc >= acc).map((p) => p.ms));
  const at99 = { threshold_ms: minLatencyAt(threshold, 0.99), recall_ms: minLatencyAt(recall, 0.99), no_recall_ms: minLatencyAt(noRecall, 0.99), apparate_ms: minLatencyAt(apparate, 0.99) };
  const at995 = { threshold_ms: minLatencyAt(threshold, 0.995), recall_ms: minLatencyAt(recall, 0.995), no_recall_ms: minLatencyAt(noRecall, 0.995), apparate_ms: minLatencyAt(apparate, 0.995) };

  const pts = (c: readonly Point[], f: (p: Point) => number = (p) => p.acc): [number, number][] => [...c].sort((a, b) => a.ms - b.ms).map((p) => [p.ms, f(p)] as [number, number]);
  const clip = (c: readonly Point[]): Point[] => c.filter((p) => p.acc >= 0.9);
  const series: Series[] = [
    { name: 'T-Tamer recall (lambda)', points: pts(clip(recall)) },
    { name: 'same DP, no recall', points: pts(clip(noRecall)) },
    { name: 'global threshold', points: pts(clip(threshold)) },
    { name: 'Apparate tuned (budget)', points: pts(apparate.filter((p) => p.acc >= 0.9)), line: false },
    { name: 'oracle', points: [[oracle.ms, oracle.acc]], line: false },
    { name: 'no exits', points: [[lat.full, 1]], line: false },
  ];
  writeFileSync(
    `${values.plots}/pareto-${id}.svg`,
    chartSvg({ title: `Exit policies, ${id} (held-out half, batch 1)`, xLabel: 'mean latency per input (ms, profile)', yLabel: 'agreement with final output', series }),
  );
  const summary = (c: readonly Point[]) => c.map((p) => ({ ms: r4(p.ms), acc: r4(p.acc), top1: r4(p.top1), knob: Number(p.knob.toPrecision(4)) }));
  return {
    subnet: id,
    fit_inputs: A.length,
    eval_inputs: B.length,
    recall_minus_threshold: {
      min_gap: r4(Math.min(...gaps.map((g) => g.gap))),
      mean_gap_high_accuracy: r4(mean(high.map((g) => g.gap))),
      min_gap_high_accuracy: r4(Math.min(...high.map((g) => g.gap))),
      mean_gap_low_accuracy: r4(mean(low.map((g) => g.gap))),
      points_compared: gaps.length,
      high_accuracy_points: high.length,
    },
    latency_for_accuracy_0_99: Object.fromEntries(Object.entries(at99).map(([k, v]) => [k, r4(v)])),
    latency_for_accuracy_0_995: Object.fromEntries(Object.entries(at995).map(([k, v]) => [k, r4(v)])),
    oracle: { ms: r4(oracle.ms), top1: r4(oracle.top1) },
    recall_answered_earlier_exit: {
      max_over_lambda: r4(Math.max(...recall.map((p) => p.earlier ?? 0))),
      at_accuracy_0_99: r4(recall.filter((p) => p.acc >= 0.99).sort((a, b) => a.ms - b.ms)[0]?.earlier ?? NaN),
    },
    curves: { recall: summary(recall), no_recall: summary(noRecall), threshold: summary(threshold), apparate: summary(apparate) },
    ablations: Object.fromEntries(
      Object.entries(ablations).map(([k, c]) => [k, { latency_for_accuracy_0_99: r4(minLatencyAt(c, 0.99)), latency_for_accuracy_0_995: r4(minLatencyAt(c, 0.995)) }]),
    ),
  };
}

// ---------------------------------------------------------------- 3. distribution shift
const HARD = [2, 4, 6]; // pullover, coat, shirt
function shift(id: string, records: readonly FeedbackRecord[], policy: 'threshold' | 'recall') {
  const lat = latencyOf(id);
  const easy = shuffled(records.filter((r) => !HARD.includes(r.label as number)), seed + 2);
  const hard = shuffled(records.filter((r) => HARD.includes(r.label as number)), seed + 3);
  const stream = [...easy, ...hard];
  const m = managerFor({ policy });
  const o = streamThrough(m, id, stream, lat, cat.numClasses, 1);
  const W = 500;
  const windows: { start: number; phase: string; loss: number; median_ms: number; mean_ms: number }[] = [];
  for (let s = 0; s < stream.length; s += W) {
    const e = Math.min(stream.length, s + W);
    windows.push({
      start: s,
      phase: e <= easy.length ? 'easy' : s >= easy.length ? 'hard' : 'switch',
      loss: r4(1 - mean(o.agree.subarray(s, e))),
      median_ms: r4(median(o.latencyMs.subarray(s, e))),
      mean_ms: r4(mean(o.latencyMs.subarray(s, e))),
    });
  }
  const hardWindows = windows.filter((w) => w.start >= easy.length);
  const firstOk = hardWindows.findIndex((w, i) => hardWindows.slice(i).every((x) => x.loss <= 0.01));
  const events = o.trace.filter((t) => t.violations > 0 || t.emergencyOff.length > 0).map((t) => ({ at: t.at, violations: t.violations, emergency_off: t.emergencyOff }));
  return {
    o,
    m,
    stream,
    easyCount: easy.length,
    result: {
      subnet: id,
      policy,
      easy_inputs: easy.length,
      hard_inputs: hard.length,
      window: W,
      windows,
      loss_easy_phase: r4(1 - mean(o.agree.subarray(0, easy.length))),
      loss_hard_phase: r4(1 - mean(o.agree.subarray(easy.length))),
      mean_ms_easy: r4(mean(o.latencyMs.subarray(0, easy.length))),
      mean_ms_hard: r4(mean(o.latencyMs.subarray(easy.length))),
      hard_windows_until_within_budget: firstOk,
      events,
    },
  };
}

// ---------------------------------------------------------------- run
const out: Record<string, unknown> = {
  bench: 'exits/evaluate',
  supernet: cat.manifest.name,
  profile: values.profile,
  latency_model: 'input latency = cumulative per-stage p50 (stage graph incl. ramp) up to the release stage, batch 1; no exit = all stages + head',
  accuracy: 'agreement with the subnet final output unless named top1 (vs labels)',
  seed,
  commands: [
    'npx tsc -p tsconfig.bench.json',
    `node dist-bench/bench/exits/collect.js --subnets ${ids.join(',')}`,
    `node dist-bench/bench/exits/evaluate.js --subnets ${ids.join(',')} --seed ${seed}` +
      (values.safety !== undefined ? ` --safety ${values.safety}` : '') +
      (values.window !== undefined ? ` --window ${values.window}` : ''),
  ],
  settings: { ...managerFor().settings, policyBySubnet: undefined },
};
const low: unknown[] = [];
const par: unknown[] = [];
let shiftOut: ReturnType<typeof shift> | null = null;
let shiftRecall: ReturnType<typeof shift> | null = null;
for (const id of ids) {
  const { records, file } = loadCollected(`bench/results/exits-ramps-${id}.json`);
  out.data = file.source;
  process.stderr.write(`${id}: low load\n`);
  low.push(lowLoad(id, records));
  process.stderr.write(`${id}: pareto\n`);
  par.push(pareto(id, records));
  if (id === ids[0]) {
    process.stderr.write(`${id}: shift\n`);
    shiftOut = shift(id, records, 'threshold');
    shiftRecall = shift(id, records, 'recall');
  }
}
out.low_load = low;
out.pareto = par;
if (shiftOut && shiftRecall) {
  out.shift = { threshold: shiftOut.result, recall: shiftRecall.result };
  const id = ids[0] as string;
  const w = shiftOut.result.windows;
  const wr = shiftRecall.result.windows;
  writeFileSync(
    `${values.plots}/shift-loss.svg`,
    chartSvg({
      title: `Accuracy loss per ${shiftOut.result.window} inputs; hard classes from input ${shiftOut.easyCount}`,
      xLabel: 'input (stream position)',
      yLabel: 'accuracy loss vs final output',
      series: [
        { name: 'thresholds (Apparate loops)', points: w.map((x) => [x.start + shiftOut!.result.window / 2, x.loss] as [number, number]) },
        { name: 'recall (T-Tamer, lambda auto)', points: wr.map((x) => [x.start + shiftRecall!.result.window / 2, x.loss] as [number, number]) },
        { name: 'budget (1%)', points: [[0, 0.01], [shiftOut.stream.length, 0.01]] },
        { name: 'switch to hard classes', points: [[shiftOut.easyCount, 0], [shiftOut.easyCount, Math.max(0.03, ...w.map((x) => x.loss))]] },
      ],
    }),
  );
  const stages = cat.subnet(id).stages;
  const th = shiftOut.o.trace;
  const used = stages.filter((s) => th.some((t) => (t.snapshot.thresholds[s] ?? 0) > 0));
  writeFileSync(
    `${values.plots}/shift-thresholds.svg`,
    chartSvg({
      title: `Thresholds over time (${id}); hard classes from input ${shiftOut.easyCount}`,
      xLabel: 'input (stream position)',
      yLabel: 'tau (1 - max softmax below it exits)',
      series: [
        ...used.map((s) => ({ name: `tau ${s}`, points: th.map((t) => [t.at, t.snapshot.thresholds[s] ?? 0] as [number, number]) })),
        { name: 'switch', points: [[shiftOut.easyCount, 0], [shiftOut.easyCount, 0.5]] },
      ],
    }),
  );
}
writeFileSync(values.out, JSON.stringify(out, null, 1) + '\n');
const brief = {
  low_load: (low as ReturnType<typeof lowLoad>[]).map((l) => ({ subnet: l.subnet, no_exit_ms: l.no_exit_latency_ms, threshold: l.threshold.after_warmup, recall: l.recall.after_warmup })),
  pareto: (par as ReturnType<typeof pareto>[]).map((p) => ({ subnet: p.subnet, gaps: p.recall_minus_threshold, earlier: p.recall_answered_earlier_exit, at99: p.latency_for_accuracy_0_99, at995: p.latency_for_accuracy_0_995, ablations: p.ablations })),
  shift: shiftOut && { loss_easy: shiftOut.result.loss_easy_phase, loss_hard: shiftOut.result.loss_hard_phase, windows: shiftOut.result.windows.map((x) => x.loss), until_ok: shiftOut.result.hard_windows_until_within_budget, events: shiftOut.result.events.length },
  shift_recall: shiftRecall && { loss_easy: shiftRecall.result.loss_easy_phase, loss_hard: shiftRecall.result.loss_hard_phase, windows: shiftRecall.result.windows.map((x) => x.loss) },
};
console.log(JSON.stringify(brief, null, 1));
