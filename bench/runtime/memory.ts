/**
 * Resident memory: the executor's graphs (each encoding) vs one static session per Pareto subnet,
 * each case in a fresh process, median of N processes. Prints JSON with same-run ratios.
 *
 * Usage: node dist-bench/bench/runtime/memory.js [--supernet DIR] [--runs N]
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { median, r3 } from './common.js';

const { values } = parseArgs({ options: { supernet: { type: 'string', default: 'supernets/fmnist-resnet' }, runs: { type: 'string', default: '3' } } });
const script = fileURLToPath(new URL('./memory-case.js', import.meta.url));
const cases = ['static', 'sliced', 'branched'];
const added: Record<string, number[]> = Object.fromEntries(cases.map((c) => [c, []]));
const total: Record<string, number[]> = Object.fromEntries(cases.map((c) => [c, []]));
for (let i = 0; i < Number(values.runs); i++)
  for (const c of cases) {
    const r = spawnSync(process.execPath, [script, values.supernet, c], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(r.stderr);
    const j = JSON.parse(r.stdout.trim().split('\n').pop() as string) as { added_mib: number; rss_after_mib: number };
    (added[c] as number[]).push(j.added_mib);
    (total[c] as number[]).push(j.rss_after_mib);
    process.stderr.write(`${c}: +${j.added_mib} MiB (rss ${j.rss_after_mib})\n`);
  }
const m = (c: string): number => median(added[c] as number[]);
console.log(
  JSON.stringify(
    {
      bench: 'runtime/memory',
      what: 'RSS added by loading and warming (batch 1 and 64, every Pareto subnet), MiB, median of fresh processes',
      added_mib: Object.fromEntries(cases.map((c) => [c, m(c)])),
      rss_total_mib: Object.fromEntries(cases.map((c) => [c, median(total[c] as number[])])),
      ratio_vs_static: { sliced: r3(m('sliced') / m('static')), branched: r3(m('branched') / m('static')) },
    },
    null,
    1,
  ),
);
