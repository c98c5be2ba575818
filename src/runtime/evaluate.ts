/**
 * `slackserve supernet evaluate`: measures every catalogue subnet through onnxruntime on the
 * full test set (final top-1 from the SubNetAct graph, each ramp's top-1 and agreement with the
 * final output from the stage chain), times batch latency of the SubNetAct and static graphs,
 * selects the served Pareto set and writes it all back into manifest.json, with a report and plot.
 */
import { writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { SlackserveError } from '../errors.js';
import { chartSvg } from '../plot/svg.js';
import { Catalogue } from '../supernet/catalogue.js';
import { preprocess, readFashionMnist } from '../supernet/dataset.js';
import type { Manifest, RampStats, SubnetEntry, SubnetLatency } from '../supernet/manifest-types.js';
import { paretoFront } from '../supernet/pareto.js';
import { ort, type SessionSettings } from './session.js';
import { argmax, SupernetGraphs } from './supernet-graphs.js';
import { timeIt } from './timing.js';

export interface EvaluateOptions {
  readonly dir: string;
  readonly datasetDir: string;
  readonly settings: SessionSettings;
  readonly latencyBatch: number;
  readonly repeats: number;
  /** Evaluate on the first N test images only (smoke runs); 0 = all. */
  readonly limit: number;
  readonly log: (line: string) => void;
}

export interface EvaluateResult {
  readonly manifest: Manifest;
  readonly report: string;
}

interface Measured {
  top1: number;
  ramps: RampStats[];
  latency: SubnetLatency;
  stagedMismatches: number;
}

async function measureSubnet(g: SupernetGraphs, s: SubnetEntry, images: Float32Array, labels: Uint8Array, opts: EvaluateOptions): Promise<Measured> {
  const classes = g.catalogue.numClasses;
  const per = g.catalogue.sampleSize;
  const n = labels.length;
  const chunk = 500;
  let correct = 0;
  let stagedMismatches = 0;
  const rampCorrect = new Array<number>(s.stages.length).fill(0);
  const rampAgree = new Array<number>(s.stages.length).fill(0);
  for (let i = 0; i < n; i += chunk) {
    const m = Math.min(chunk, n - i);
    const x = images.subarray(i * per, (i + m) * per);
    const final = argmax(await g.runWhole(x, s.id), classes);
    const staged = await g.runStaged(x, s.id);
    const stagedFinal = argmax(staged.logits, classes);
    const rampPreds = staged.ramps.map((r) => argmax(r.logits, classes));
    for (let k = 0; k < m; k++) {
      const y = labels[i + k];
      const f = final[k];
      if (f === y) correct++;
      if (stagedFinal[k] !== f) stagedMismatches++;
      rampPreds.forEach((p, j) => {
        if (p[k] === y) rampCorrect[j] = (rampCorrect[j] as number) + 1;
        if (p[k] === f) rampAgree[j] = (rampAgree[j] as number) + 1;
      });
    }
  }
  const round = (v: number): number => Math.round(v * 1e5) / 1e5;
  const batch = images.subarray(0, opts.latencyBatch * per);
  const stat = await timeIt(() => g.runStatic(batch, s.id), opts.repeats);
  const sup = await timeIt(() => g.runWhole(batch, s.id), opts.repeats);
  const r3 = (v: number): number => Math.round(v * 1000) / 1000;
  return {
    top1: round(correct / n),
    ramps: s.stages.map((stage, j) => ({
      stage,
      top1: round((rampCorrect[j] as number) / n),
      agreement: round((rampAgree[j] as number) / n),
    })),
    latency: {
      batch: opts.latencyBatch,
      static: { p50: r3(stat.p50), p95: r3(stat.p95) },
      supernet: { p50: r3(sup.p50), p95: r3(sup.p95) },
    },
    stagedMismatches,
  };
}

/** Rewrites pareto.svg and report.md from an evaluated manifest (no measuring). */
export function writeReports(cat: Catalogue): string {
  writeFileSync(join(cat.dir, 'pareto.svg'), paretoPlot(cat.manifest));
  const report = reportMarkdown(cat.manifest);
  writeFileSync(join(cat.dir, 'report.md'), report);
  return report;
}

export async function evaluateSupernet(opts: EvaluateOptions): Promise<EvaluateResult> {
  const cat = Catalogue.load(opts.dir);
  const test = readFashionMnist(opts.datasetDir, 't10k');
  const count = opts.limit > 0 ? Math.min(opts.limit, test.count) : test.count;
  if (count < opts.latencyBatch)
    throw new SlackserveError('INPUT_INVALID', `need at least ${opts.latencyBatch} test images, have ${count}`);
  const images = preprocess(test, cat.manifest.input.preprocessing, 0, count);
  const labels = test.labels.subarray(0, count);
  opts.log(`evaluating ${cat.subnets.length} subnets of ${cat.manifest.name} on ${count} test images ` +
    `(onnxruntime ${ort.env.versions.common}, ${opts.settings.intraOpThreads} intra-op thread(s))`);
  const graphs = await SupernetGraphs.open(cat, opts.settings);
  const measured: Measured[] = [];
  const t0 = Date.now();
  try {
    for (const [i, s] of cat.subnets.entries()) {
      const m = await measureSubnet(graphs, s, images, labels, opts);
      if (m.stagedMismatches > 0)
        opts.log(`  warning: ${s.id}: staged and whole-graph predictions differ on ${m.stagedMismatches} images`);
      measured.push(m);
      opts.log(`[${i + 1}/${cat.subnets.length}] ${s.id.padEnd(24)} top1 ${m.top1.toFixed(4)} ` +
        `(torch ${s.top1_torch?.toFixed(4) ?? '-'})  b${opts.latencyBatch} static ${m.latency.static.p50.toFixed(2)} ms ` +
        `supernet ${m.latency.supernet.p50.toFixed(2)} ms  (${((Date.now() - t0) / 1000).toFixed(0)}s)`);
    }
  } finally {
    await graphs.close();
  }

  const subnets = cat.subnets.map((s, i) => {
    const m = measured[i] as Measured;
    return { ...s, top1: m.top1, ramps: m.ramps, latency_ms: m.latency };
  });
  const pareto = paretoFront(subnets.map((s) => ({ id: s.id, cost: s.latency_ms.static.p50, accuracy: s.top1 })));
  const manifest: Manifest = {
    ...cat.manifest,
    subnets,
    pareto,
    evaluation: {
      onnxruntime: ort.env.versions.common,
      test_images: count,
      intra_op_threads: opts.settings.intraOpThreads,
      machine: `${cpus().length} cores, ${cpus()[0]?.model ?? 'unknown CPU'}`,
      date: new Date().toISOString().slice(0, 10),
      pareto_rule: `fastest first by p50 latency of the static graph at batch ${opts.latencyBatch}; ` +
        'a subnet is kept when it is strictly more accurate than every faster one',
    },
  };
  writeFileSync(join(cat.dir, 'manifest.json'), JSON.stringify(manifest, null, 1) + '\n');
  return { manifest, report: writeReports(Catalogue.fromManifest(cat.dir, manifest)) };
}

function paretoPlot(m: Manifest): string {
  const front = new Set(m.pareto ?? []);
  const pt = (s: SubnetEntry): [number, number] => [s.latency_ms?.static.p50 ?? NaN, 100 * (s.top1 ?? NaN)];
  const onFront = m.subnets.filter((s) => front.has(s.id)).sort((a, b) => pt(a)[0] - pt(b)[0]);
  const batch = m.subnets[0]?.latency_ms?.batch ?? 16;
  return chartSvg({
    title: `${m.name}: top-1 vs batch-${batch} latency (onnxruntime, this machine)`,
    xLabel: `p50 latency at batch ${batch} (ms, log): static graphs, and the SubNetAct graph for the same subnets`,
    yLabel: 'top-1 on 10k test images (%)',
    xLog: true,
    series: [
      { name: 'served Pareto set', points: onFront.map(pt), labels: onFront.map((s) => s.id) },
      { name: 'other catalogue subnets', points: m.subnets.filter((s) => !front.has(s.id)).map(pt), line: false },
      {
        name: 'SubNetAct, sliced (Pareto)',
        points: onFront.map((s) => [s.latency_ms?.supernet.p50 ?? NaN, 100 * (s.top1 ?? NaN)] as [number, number]),
      },
    ],
  });
}

/** Markdown table of the evaluated catalogue (included in docs/supernet.md). */
export function reportMarkdown(m: Manifest): string {
  const front = new Set(m.pareto ?? []);
  const pct = (v: number | undefined): string => (v === undefined ? '-' : (100 * v).toFixed(2));
  const rows = m.subnets.map((s) => {
    const l = s.latency_ms;
    const ramps = (s.ramps ?? []).map((r) => pct(r.top1)).join(' / ');
    return `| ${front.has(s.id) ? '**P**' : ''} | \`${s.id}\` | ${s.choices.resolution} | ${s.choices.depth.join('')} | ` +
      `${s.choices.width.join('-')} | ${(s.macs / 1e6).toFixed(2)} | ${(s.params / 1e3).toFixed(0)} | ${pct(s.top1)} | ` +
      `${l ? l.static.p50.toFixed(2) : '-'} | ${l ? l.supernet.p50.toFixed(2) : '-'} | ${ramps} |`;
  });
  const paretoSubnets = m.subnets.filter((s) => front.has(s.id));
  const accs = paretoSubnets.map((s) => s.top1 ?? 0);
  const lats = paretoSubnets.map((s) => s.latency_ms?.static.p50 ?? 0);
  const e = m.evaluation;
  return [
    `Measured by \`slackserve supernet evaluate\` on ${e?.date ?? '?'} (${e?.machine ?? '?'}, onnxruntime ${e?.onnxruntime ?? '?'}, ` +
      `${e?.intra_op_threads ?? '?'} intra-op thread(s)); top-1 on ${e?.test_images ?? '?'} test images. ` +
      `P = served Pareto set (${paretoSubnets.length} subnets: top-1 ${pct(Math.min(...accs))}-${pct(Math.max(...accs))}%, ` +
      `batch-${m.subnets[0]?.latency_ms?.batch ?? '?'} latency ${Math.min(...lats).toFixed(2)}-${Math.max(...lats).toFixed(2)} ms, ` +
      `${(Math.max(...lats) / Math.min(...lats)).toFixed(1)}x).`,
    '',
    '| | subnet | res | depth | width | MMACs | kparams | top-1 % | static p50 ms | SubNetAct (sliced) p50 ms | ramp top-1 % (in order) |',
    '|---|---|---|---|---|---|---|---|---|---|---|',
    ...rows,
    '',
  ].join('\n');
}
