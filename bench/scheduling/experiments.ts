/**
 * The SuperServe-style experiments of docs/scheduling.md, run in the simulator on the profile
 * measured on this machine: a bursty grid (rate x CV²), a time-varying grid (target rate x ramp
 * slope) and the Azure Functions (MAF) trace, every policy side by side.
 *
 *   node dist-bench/bench/scheduling/experiments.js [--quick]
 *
 * Prints markdown tables, writes bench/results/scheduling-experiments.json and SVG plots under
 * docs/scheduling/. Traces are generated with fixed seeds, so reruns give the same arrivals; the
 * latency noise is seeded too.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { chartSvg } from '../../src/plot/svg.js';
import { runExperiment } from '../../src/sim/experiment.js';
import { accuracyPlot, attainmentPlot, loadPlot, mixPlot } from '../../src/sim/plots.js';
import type { SimSummary } from '../../src/sim/summary.js';
import { toColumns, type TraceRequest } from '../../src/trace/format.js';
import { bursty, loadMafCounts, maf, timeVarying } from '../../src/trace/generators.js';
import { capacity, committedTable } from './common.js';

const quick = process.argv.includes('--quick');
const WORKERS = 2;
const SLO_MS = 36; // SuperServe's CNN SLO
const DURATION_S = quick ? 5 : 30;
const MID = 'r28_d222_w16-32-64';
const POLICIES = ['slackfit', 'static-smallest', `static:${MID}`, 'static-largest', 'clipper-largest', 'clockwork-largest', 'infaas'];
const table = committedTable();
const cap = {
  smallest: capacity(table, table.byAccuracy[table.byAccuracy.length - 1]!.id),
  mid: capacity(table, MID),
  largest: capacity(table, table.mostAccurate.id),
};
const out = 'docs/scheduling';
mkdirSync(out, { recursive: true });
const log = (s: string): boolean => process.stderr.write(s + '\n');

interface Cell {
  readonly grid: string;
  readonly label: string;
  readonly params: Record<string, number>;
  readonly requests: number;
  readonly summaries: SimSummary[];
}
const cells: Cell[] = [];
const pct = (v: number | null): string => (v === null ? '-' : (v * 100).toFixed(1));

function run(grid: string, label: string, params: Record<string, number>, reqs: TraceRequest[], plots = false): Cell {
  const t0 = performance.now();
  const res = runExperiment(toColumns(reqs), table, { policies: POLICIES, sim: { workers: WORKERS, seed: 1, admission: 'reject' } });
  log(`${grid} ${label}: ${reqs.length} requests, ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  if (plots) {
    writeFileSync(`${out}/${grid}-attainment.svg`, attainmentPlot(res.series, `${grid} ${label}`));
    writeFileSync(`${out}/${grid}-accuracy.svg`, accuracyPlot(res.series, `${grid} ${label}`));
    writeFileSync(`${out}/${grid}-load.svg`, loadPlot(res.series[0]!, `${grid} ${label}`));
    writeFileSync(`${out}/${grid}-mix-slackfit.svg`, mixPlot(res.series[0]!, `${grid} ${label}`));
  }
  const cell = { grid, label, params, requests: reqs.length, summaries: res.summaries };
  cells.push(cell);
  return cell;
}

// bursty: half the rate is a constant stream, half a Gamma stream with the given CV²
const RATES = [1000, 2000, 4000, 8000, 16000];
for (const cv2 of [2, 4, 8])
  for (const rate of RATES)
    run('bursty', `λ=${rate} CV²=${cv2}`, { rate, cv2 }, bursty({ baseRate: rate / 2, burstRate: rate / 2, cv2, durationS: DURATION_S, sloMs: SLO_MS, seed: 11 }), rate === 8000 && cv2 === 8);

// time-varying: Gamma CV² 8, rate ramps from 2,000 req/s to λ2 at τ req/s²
for (const rate2 of [8000, 16000, 32000])
  for (const tau of [500, 2000, 8000])
    run('time-varying', `λ2=${rate2} τ=${tau}`, { rate2, tau }, timeVarying({ rate1: 2000, rate2, tau, cv2: 8, durationS: DURATION_S, sloMs: SLO_MS, seed: 12 }), rate2 === 16000 && tau === 2000);

// MAF: the 1,350-function Azure Functions 2019 day compressed to 120 s at a mean of 6,000 req/s
const counts = await loadMafCounts('traces/azure_functions_2019/1350_inv.csv');
run('maf', 'mean 6000 req/s, day in 120 s', { meanRate: 6000 }, maf({ counts, durationS: quick ? 20 : 120, meanRate: 6000, sloMs: SLO_MS, seed: 13 }), true);

// INFaaS what-if: these models load in 5-15 ms (measured); SuperServe's CNNs take ~100x longer.
// The same MAF trace with the measured load times scaled up.
const mafReqs = toColumns(maf({ counts, durationS: quick ? 20 : 120, meanRate: 6000, sloMs: SLO_MS, seed: 13 }));
const loadScaling = [1, 10, 100].map((scale) => {
  const s = runExperiment(mafReqs, committedTable(scale), { policies: ['infaas'], sim: { workers: WORKERS, seed: 1, admission: 'reject' } }).summaries[0]!;
  log(`infaas with load x${scale}: attainment ${s.slo_attainment}`);
  return { load_scale: scale, slo_attainment: s.slo_attainment, mean_served_accuracy: s.mean_served_accuracy, variant_loads: s.variant_loads };
});
console.log(`\n### INFaaS on the MAF trace with variant load times scaled\n\n| load scale | attainment % | accuracy % | variant loads |\n|---|---|---|---|`);
for (const r of loadScaling) console.log(`| x${r.load_scale} | ${pct(r.slo_attainment)} | ${pct(r.mean_served_accuracy)} | ${r.variant_loads} |`);

// --- tables and summary plots
function markdown(grid: string): string {
  const rows = cells.filter((c) => c.grid === grid);
  const head = `| ${grid} | ${POLICIES.join(' | ')} |\n|---|${POLICIES.map(() => '---').join('|')}|`;
  const body = rows.map((c) => `| ${c.label} | ${c.summaries.map((s) => `${pct(s.slo_attainment)} / ${pct(s.mean_served_accuracy)}`).join(' | ')} |`);
  return [head, ...body].join('\n');
}
for (const grid of ['bursty', 'time-varying', 'maf']) console.log(`\n### ${grid} (SLO attainment % / served accuracy %)\n\n${markdown(grid)}`);

// trade-off: every cell of a grid as one point per policy (attainment, accuracy)
for (const grid of ['bursty', 'time-varying'])
  writeFileSync(
    `${out}/${grid}-tradeoff.svg`,
    chartSvg({
      title: `${grid} grid: SLO attainment vs served accuracy (one point per cell)`,
      xLabel: 'SLO attainment',
      yLabel: 'served accuracy, %',
      series: POLICIES.map((p, i) => ({
        name: p,
        line: false,
        points: cells.filter((c) => c.grid === grid && c.summaries[i]!.mean_served_accuracy !== null).map((c) => [c.summaries[i]!.slo_attainment, c.summaries[i]!.mean_served_accuracy! * 100] as [number, number]),
      })),
    }),
  );
// attainment vs rate at CV² 8
writeFileSync(
  `${out}/bursty-attainment-vs-rate.svg`,
  chartSvg({
    title: 'bursty, CV² = 8: SLO attainment vs mean rate',
    xLabel: 'mean rate, req/s (log)',
    yLabel: 'SLO attainment',
    xLog: true,
    series: POLICIES.map((p, i) => ({ name: p, points: cells.filter((c) => c.grid === 'bursty' && c.params.cv2 === 8).map((c) => [c.params.rate!, c.summaries[i]!.slo_attainment] as [number, number]) })),
  }),
);

const result = {
  bench: 'scheduling-experiments',
  quick,
  workers: WORKERS,
  slo_ms: SLO_MS,
  duration_s: DURATION_S,
  capacity_per_executor_rps: Object.fromEntries(Object.entries(cap).map(([k, v]) => [k, Math.round(v)])),
  policies: POLICIES,
  cells,
  infaas_load_scaling_maf: loadScaling,
};
if (!quick) writeFileSync('bench/results/scheduling-experiments.json', JSON.stringify(result, null, 1) + '\n');
console.log(`\ncapacity per executor (best b / p50 latency): ${JSON.stringify(result.capacity_per_executor_rps)} req/s; ${WORKERS} executors`);
