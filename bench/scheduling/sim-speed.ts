/**
 * Simulator speed: one million Poisson requests through every policy (2 executors, latency noise
 * on). Prints JSON: wall seconds per policy and the ratio to the simplest policy (static-smallest)
 * measured in the same run. Goal (issue 4): every policy under 30 s.
 */
import { buildPolicy } from '../../src/scheduler/registry.js';
import { simulate } from '../../src/sim/simulator.js';
import { summarize } from '../../src/sim/summary.js';
import { toColumns } from '../../src/trace/format.js';
import { poisson } from '../../src/trace/generators.js';
import { committedTable } from './common.js';

const N = Number(process.argv[2] ?? 1_000_000);
const RATE = 5000;
const table = committedTable();
const t0 = performance.now();
const trace = toColumns(poisson({ rate: RATE, durationS: N / RATE, sloMs: 36, seed: 1 }));
const genS = (performance.now() - t0) / 1000;
const policies = ['static-smallest', 'slackfit', 'static-largest', 'clipper-largest', 'clockwork-largest', 'infaas'];
const rows = policies.map((p) => {
  const runs = [0, 1, 2].map(() => simulate(trace, table, buildPolicy(p, table), { workers: 2, seed: 1 }));
  const walls = runs.map((r) => r.wallMs / 1000).sort((a, b) => a - b);
  const s = summarize(runs[0]!);
  process.stderr.write(`${p}: median ${walls[1]!.toFixed(2)} s\n`);
  return { policy: p, requests: s.requests, wall_s_median: Number(walls[1]!.toFixed(3)), attainment: s.slo_attainment };
});
const base = rows[0]!.wall_s_median;
console.log(
  JSON.stringify(
    {
      bench: 'simulator-speed',
      requests: trace.t_ms.length,
      trace_generation_s: Number(genS.toFixed(3)),
      workers: 2,
      goal_s: 30,
      policies: rows.map((r) => ({ ...r, ratio_to_static_smallest: Number((r.wall_s_median / base).toFixed(2)) })),
      max_wall_s: Math.max(...rows.map((r) => r.wall_s_median)),
    },
    null,
    1,
  ),
);
