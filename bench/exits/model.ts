/**
 * Builds the simulator's exit model (src/sim/exit-model.ts) from the collected ramp outputs
 * (collect.ts): for every subnet of the profile, Apparate's threshold policy is tuned at an
 * accuracy-loss budget vs the final output on one half of the test set (as evaluate.ts does:
 * every ramp but the last may exit, tuner safety 0), then applied to the other half, which gives
 * the share of inputs answered at each ramp (and at the final output), their top-1 against the
 * labels, and the agreement of the served answers with the final output.
 *
 * Usage: node dist-bench/bench/exits/model.js [--profile FILE] [--budget 0.01] [--seed 1] [--out FILE]
 * Needs bench/results/exits-ramps-<subnet>.json for every subnet (collect.js --subnets ...).
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import type { FeedbackRecord } from '../../src/exits/feedback.js';
import { exitLatencyOf } from '../../src/exits/latency.js';
import { exitRampOf } from '../../src/exits/thresholds.js';
import { DEFAULT_TUNER, tuneThresholds } from '../../src/exits/tuner.js';
import { EXIT_MODEL_FORMAT, type ExitModelFile, type SubnetExitModel } from '../../src/sim/exit-model.js';
import { loadProfile } from '../../src/supernet/profile-file.js';
import { loadCollected, shuffled } from './data.js';

const { values } = parseArgs({
  options: {
    profile: { type: 'string', default: 'supernets/fmnist-resnet/profiles/cpu-2core.json' },
    ramps: { type: 'string', default: 'bench/results' },
    budget: { type: 'string', default: '0.01' },
    seed: { type: 'string', default: '1' },
    out: { type: 'string', default: 'supernets/fmnist-resnet/profiles/exits-cpu-2core.json' },
  },
});
const budget = Number(values.budget);
const seed = Number(values.seed);
const profile = loadProfile(values.profile);
const r4 = (v: number): number => Math.round(v * 1e4) / 1e4;

const subnets: Record<string, SubnetExitModel> = {};
let source = '';
for (const p of profile.subnets) {
  const { file, records } = loadCollected(`${values.ramps}/exits-ramps-${p.id}.json`);
  source = file.source;
  const profStages = (p.stages['1'] ?? []).map((s) => s.stage).filter((s) => s !== 'head');
  if (profStages.join(',') !== file.stages.join(',')) throw new Error(`${p.id}: ramp stages ${file.stages.join(',')} != profile stages ${profStages.join(',')}`);
  const n = file.stages.length;
  const lat = exitLatencyOf((p.stages['1'] ?? []).map((s) => s.p50));
  // same split as evaluate.ts's Pareto part
  const mixed = shuffled(records, seed + 1);
  const A = mixed.slice(0, mixed.length >> 1);
  const B = mixed.slice(mixed.length >> 1);
  const t = tuneThresholds({ records: A, active: Array.from({ length: n - 1 }, (_, j) => j), latency: lat }, { ...DEFAULT_TUNER, budget, safety: 0 });
  const count = new Float64Array(n + 1);
  const right = new Float64Array(n + 1);
  // late_top1[k]: ramp k's top-1 over inputs not answered by ramp k (what a deadline answer there serves)
  const lateN = new Float64Array(n);
  const lateRight = new Float64Array(n);
  const rampRight = new Float64Array(n);
  let agree = 0;
  const exitOf = (r: FeedbackRecord): number => {
    const j = exitRampOf(r.loss, t.thresholds);
    return j < 0 ? n : j;
  };
  for (const r of B) {
    const j = exitOf(r);
    const ans = j === n ? r.finalPred : (r.pred[j] as number);
    count[j] = (count[j] as number) + 1;
    if (ans === r.label) right[j] = (right[j] as number) + 1;
    if (ans === r.finalPred) agree++;
    for (let k = 0; k < n; k++) {
      const ok = r.pred[k] === r.label ? 1 : 0;
      rampRight[k] = (rampRight[k] as number) + ok;
      if (k < j) {
        lateN[k] = (lateN[k] as number) + 1;
        lateRight[k] = (lateRight[k] as number) + ok;
      }
    }
  }
  const finalTop1 = B.reduce((s, r) => s + (r.finalPred === r.label ? 1 : 0), 0) / B.length;
  subnets[p.id] = {
    stages: [...file.stages],
    thresholds: Array.from(t.thresholds, (v) => Number(v.toPrecision(4))),
    share: Array.from(count, (c) => r4(c / B.length)),
    top1: Array.from(count, (c, j) => r4(c > 0 ? (right[j] as number) / c : j === n ? finalTop1 : (rampRight[j] as number) / B.length)),
    late_top1: Array.from(lateN, (c, k) => r4(c > 0 ? (lateRight[k] as number) / c : (rampRight[k] as number) / B.length)),
    agreement: r4(agree / B.length),
    final_top1: r4(finalTop1),
    eval_inputs: B.length,
  };
  // shares are rounded: make them sum to exactly 1 on the final entry
  const s = subnets[p.id]!;
  const head = s.share.slice(0, n).reduce((a, b) => a + b, 0);
  s.share[n] = r4(1 - head);
  process.stderr.write(`${p.id}: early ${r4(1 - s.share[n]!)} agreement ${s.agreement} top1 served ${r4(s.share.reduce((a, v, j) => a + v * s.top1[j]!, 0))} final ${s.final_top1}\n`);
}

const model: ExitModelFile = {
  format: EXIT_MODEL_FORMAT,
  supernet: profile.supernet,
  profile: values.profile,
  source: `bench/results/exits-ramps-<subnet>.json (bench/exits/collect.ts over ${source}); fitted on a random half, shares/top1/agreement measured on the other half`,
  policy: { kind: 'threshold', tuner: 'apparate hill-climb (src/exits/tuner.ts)', budget, safety: 0, active: 'every ramp but the last', split_seed: seed + 1 },
  command: `node dist-bench/bench/exits/model.js --budget ${budget} --seed ${seed}`,
  subnets,
};
writeFileSync(values.out, JSON.stringify(model, null, 1) + '\n');
process.stderr.write(`wrote ${values.out}\n`);
