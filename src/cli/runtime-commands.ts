/** `slackserve profile`: per-subnet, per-batch latency on this machine -> profile JSON + plot. */
import { writeFileSync } from 'node:fs';
import { InvalidArgumentError, type Command } from 'commander';
import { executorSettings } from '../config.js';
import { chartSvg } from '../plot/svg.js';
import { profileSupernet, type Profile } from '../runtime/profile.js';
import { measureVariantLoads } from '../runtime/variant-load.js';
import { Catalogue } from '../supernet/catalogue.js';
import { loadProfile } from '../supernet/profile-file.js';
import { configFrom, positiveInt } from './options.js';

function batchList(value: string): number[] {
  const out = value.split(',').map((v) => Number(v.trim()));
  if (out.length === 0 || out.some((n) => !Number.isInteger(n) || n < 1))
    throw new InvalidArgumentError(`expected a comma-separated list of positive integers, got "${value}"`);
  return [...new Set(out)].sort((a, b) => a - b);
}

export function profilePlot(p: Profile): string {
  return chartSvg({
    title: `${p.supernet}: whole-graph latency vs batch (p50, ${p.machine})`,
    xLabel: 'batch size (log)',
    yLabel: 'p50 latency, ms (log)',
    xLog: true,
    yLog: true,
    series: p.subnets.map((s) => ({ name: s.id, points: p.batch_sizes.map((b) => [b, s.whole[b]?.p50 ?? NaN] as [number, number]) })),
  });
}

export function registerRuntimeCommands(program: Command): void {
  program
    .command('profile')
    .description('measure p50/p95 latency of every served subnet at every batch size (whole and staged), with per-stage costs')
    .option('--supernet <dir>', 'supernet directory (default: config `supernet`)')
    .requiredOption('--out <file>', 'profile JSON to write (a plot is written beside it as .svg)')
    .option('--batch-sizes <list>', 'comma-separated batch sizes', batchList, [1, 2, 4, 8, 16, 32, 64])
    .option('--repeats <n>', 'timed runs per measurement', positiveInt, 30)
    .option('--subnets <ids>', 'comma-separated subnet ids (default: the Pareto set)')
    .option('--variant-loads-only', 'only (re)measure the per-subnet static-model load time and update --out in place')
    .action(async (opts: { supernet?: string; out: string; batchSizes: number[]; repeats: number; subnets?: string; variantLoadsOnly?: boolean }, cmd: Command) => {
      const cfg = configFrom(cmd, { supernet: opts.supernet });
      const catalogue = Catalogue.load(cfg.supernet);
      const ids = opts.subnets?.split(',').map((s) => s.trim());
      ids?.forEach((id) => catalogue.subnet(id));
      const sessionSettings = executorSettings(cfg);
      const loadRepeats = Math.min(opts.repeats, 10);
      if (opts.variantLoadsOnly) {
        const existing = loadProfile(opts.out);
        const loads = await measureVariantLoads(catalogue, sessionSettings, ids ?? existing.subnets.map((s) => s.id), loadRepeats, (l) => console.log(l));
        writeFileSync(opts.out, JSON.stringify({ ...existing, variant_load_ms: loads }, null, 1) + '\n');
        console.log(`updated variant_load_ms in ${opts.out}`);
        return;
      }
      const measured = await profileSupernet({
        catalogue,
        settings: { ...executorSettings(cfg), threads: 1, maxBatch: Math.max(cfg.maxBatch, ...opts.batchSizes) },
        batchSizes: opts.batchSizes,
        repeats: opts.repeats,
        ...(ids ? { subnets: ids } : {}),
        log: (line) => console.log(line),
      });
      const loads = await measureVariantLoads(catalogue, sessionSettings, measured.subnets.map((s) => s.id), loadRepeats, (l) => console.log(l));
      const profile: Profile = { ...measured, variant_load_ms: loads };
      writeFileSync(opts.out, JSON.stringify(profile, null, 1) + '\n');
      const svg = opts.out.replace(/\.json$/, '') + '.svg';
      writeFileSync(svg, profilePlot(profile));
      console.log(`wrote ${opts.out} and ${svg}`);
    });
}
