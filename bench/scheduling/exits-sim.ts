/**
 * SlackFit with early exits vs without, in the simulator (issue 6): the committed profile and
 * exit model (supernets/fmnist-resnet/profiles/exits-cpu-2core.json, bench/exits/model.ts),
 * 2 workers, SLO 36 ms, on a bursty grid and the MAF trace.
 *
 *   node dist-bench/bench/scheduling/exits-sim.js [--quick]
 *
 * Prints markdown tables, writes bench/results/exits-sim.json and SVG plots under docs/exits-sim/.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { chartSvg, type Series } from '../../src/plot/svg.js';
import { buildPolicy } from '../../src/scheduler/registry.js';
import { ExitModel } from '../../src/sim/exit-model.js';
import { simulate, type SimArrivals } from '../../src/sim/simulator.js';
import { summarize, timeSeries, type SimSummary, type TimeSeries } from '../../src/sim/summary.js';
import { toColumns } from '../../src/trace/format.js';
import { bursty, loadMafCounts, maf } from '../../src/trace/generators.js';
import { committedTable } from './common.js';

const quick = process.argv.includes('--quick');
const WORKERS = 2;
const SLO_MS = 36;
const DURATION_S = quick ? 5 : 20;
const MODEL = 'supernets/fmnist-resnet/profiles/exits-cpu-2core.json';
const table = committedTable();
const model = ExitModel.load(MODEL);
const out = 'docs/exits-sim';
mkdirSync(out, { recursive: true });
const log = (s: string): boolean => process.stderr.write(s + '\n');

interface Variant {
  readonly name: string;
  readonly policy: string;
  readonly exits: boolean;
  readonly exitAware: boolean;
}
const VARIANTS: Variant[] = [
  { name: 'slackfit', policy: 'slackfit', exits: false, exitAware: false },
  { name: 'slackfit+exits', policy: 'slackfit', exits: true, exitAware: false },
  { name: 'slackfit+exits (exit-aware)', policy: 'slackfit', exits: true, exitAware: true },
  { name: 'static-largest', policy: 'static-largest', exits: false, exitAware: false },
  { name: 'static-largest+exits', policy: 'static-largest', exits: true, exitAware: false },
];

interface Row extends SimSummary {
  readonly variant: string;
}
interface Cell {
  readonly grid: string;
  readonly label: string;
  readonly params: Record<string, number>;
  readonly requests: number;
  readonly rows: Row[];
}
const cells: Cell[] = [];

function run(grid: string, label: string, params: Record<string, number>, arrivals: SimArrivals, plots = false): Cell {
  const t0 = performance.now();
  const rows: Row[] = [];
  const series: { policy: string; series: TimeSeries }[] = [];
  for (const v of VARIANTS) {
    const p = buildPolicy(v.policy, table, { slackfit: { exitAware: v.exitAware } });
    const r = simulate(arrivals, table, p, { workers: WORKERS, seed: 1, admission: 'reject', ...(v.exits ? { exits: model } : {}) });
    rows.push({ variant: v.name, ...summarize(r) });
    series.push({ policy: v.name, series: timeSeries(r, 120) });
  }
  log(`${grid} ${label}: ${arrivals.t_ms.length} requests, ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  if (plots) {
    const pts = (f: (s: TimeSeries) => number[]) => (s: { policy: string; series: TimeSeries }): Series => ({
      name: s.policy,
      points: s.series.t.map((t, k) => [t, f(s.series)[k] as number] as [number, number]).filter((q) => Number.isFinite(q[1])),
    });
    writeFileSync(`${out}/${grid}-attainment.svg`, chartSvg({ title: `SLO attainment, ${grid} ${label}`, xLabel: 'time (s)', yLabel: 'attainment', series: series.map(pts((s) => s.attainment)) }));
    writeFileSync(`${out}/${grid}-accuracy.svg`, chartSvg({ title: `Served accuracy, ${grid} ${label}`, xLabel: 'time (s)', yLabel: 'top-1 of answers within SLO', series: series.map(pts((s) => s.accuracy)) }));
  }
  const cell = { grid, label, params, requests: arrivals.t_ms.length, rows };
  cells.push(cell);
  return cell;
}

const rates = quick ? [1000, 16000] : [1000, 4000, 16000];
for (const rate of rates)
  for (const cv2 of [2, 8])
    run('bursty', `λ=${rate} CV²=${cv2}`, { rate, cv2 }, toColumns(bursty({ baseRate: rate / 2, burstRate: rate / 2, cv2, durationS: DURATION_S, sloMs: SLO_MS, seed: 11 })), rate === 16000 && cv2 === 8);
const counts = await loadMafCounts('traces/azure_functions_2019/1350_inv.csv');
run('maf', 'mean 6000 req/s, day in 60 s', { meanRate: 6000 }, toColumns(maf({ counts, durationS: quick ? 20 : 60, meanRate: 6000, sloMs: SLO_MS, seed: 13 })), true);

// attainment and accuracy across the bursty grid, per variant
const grid = cells.filter((c) => c.grid === 'bursty');
const byVariant = (f: (r: Row) => number): Series[] =>
  VARIANTS.map((v) => ({ name: v.name, points: grid.map((c, i) => [i, f(c.rows.find((r) => r.variant === v.name)!)] as [number, number]), labels: grid.map((c) => c.label) }));
writeFileSync(`${out}/grid-attainment.svg`, chartSvg({ title: 'SLO attainment, bursty grid (2 workers, SLO 36 ms)', xLabel: 'cell', yLabel: 'attainment', series: byVariant((r) => r.slo_attainment) }));
writeFileSync(
  `${out}/grid-accuracy.svg`,
  chartSvg({ title: 'Served accuracy, bursty grid (2 workers, SLO 36 ms)', xLabel: 'cell', yLabel: 'top-1 of answers within SLO', series: byVariant((r) => r.mean_served_accuracy ?? NaN) }),
);

// markdown
const pct = (v: number | null, d = 2): string => (v === null ? '-' : (v * 100).toFixed(d));
const lines: string[] = [];
for (const c of cells) {
  lines.push(`\n**${c.grid} ${c.label}** (${c.requests} requests)\n`);
  lines.push('| policy | attainment % | served accuracy % | early share % | deadline answers | mean latency ms | p99 ms | mean batch | dropped | rejected |');
  lines.push('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const r of c.rows)
    lines.push(
      `| ${r.variant} | ${pct(r.slo_attainment)} | ${pct(r.mean_served_accuracy)} | ${pct(r.early_share, 1)} | ${r.deadline_answers} | ${r.mean_latency_ms?.toFixed(2) ?? '-'} | ${r.latency_p99_ms?.toFixed(2) ?? '-'} | ${r.mean_batch.toFixed(1)} | ${r.dropped} | ${r.rejected} |`,
    );
}
console.log(lines.join('\n'));
writeFileSync(
  `bench/results/exits-sim${quick ? '-quick' : ''}.json`,
  JSON.stringify(
    {
      bench: 'scheduling/exits-sim',
      command: `node dist-bench/bench/scheduling/exits-sim.js${quick ? ' --quick' : ''}`,
      profile: 'supernets/fmnist-resnet/profiles/cpu-2core.json',
      exit_model: MODEL,
      exit_policy: model.file.policy,
      workers: WORKERS,
      slo_ms: SLO_MS,
      admission: 'reject',
      variants: VARIANTS,
      cells,
    },
    null,
    1,
  ) + '\n',
);
