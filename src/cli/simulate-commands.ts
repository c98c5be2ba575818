/** `slackserve simulate`: policies side by side on one trace, in simulated time. */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { InvalidArgumentError, type Command } from 'commander';
import { SlackserveError } from '../errors.js';
import { LatencyTable } from '../scheduler/latency-table.js';
import { policyOptionsFrom } from '../scheduler/registry.js';
import { ExitModel } from '../sim/exit-model.js';
import { runExperiment, summaryTable } from '../sim/experiment.js';
import { accuracyPlot, attainmentPlot, loadPlot, mixPlot } from '../sim/plots.js';
import { loadProfile } from '../supernet/profile-file.js';
import { readTextFile, readTraceFile, toColumns } from '../trace/format.js';
import { guardedConcurrency, parseServingModel } from '../sim/serving-model.js';
import { configFrom, positiveInt } from './options.js';

/** subnet id -> top-1 from a manifest.json (the accuracy measured by `supernet evaluate`). */
export function manifestAccuracy(file: string): Record<string, number> {
  let m: { subnets?: { id: string; top1?: number }[] };
  try {
    m = JSON.parse(readFileSync(file, 'utf8')) as typeof m;
  } catch (err) {
    throw new SlackserveError('MANIFEST_INVALID', `cannot read manifest ${file}: ${(err as Error).message}`);
  }
  const out: Record<string, number> = {};
  for (const s of m.subnets ?? []) if (typeof s.top1 === 'number') out[s.id] = s.top1;
  return out;
}

const num = (v: string): number => {
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new InvalidArgumentError(`expected a non-negative number, got "${v}"`);
  return n;
};

interface SimulateFlags {
  trace: string;
  profile?: string;
  manifest?: string;
  policy?: string;
  workers?: number;
  json?: boolean;
  seed: number;
  noise: boolean;
  admission?: string;
  quantile?: string;
  bucketMs?: number;
  tieBreak?: string;
  dispatchOverheadMs?: number;
  out: string;
  plots: boolean;
  exits?: string;
  exitAware?: boolean;
  serving?: string;
  images: number;
}

export function registerSimulateCommands(program: Command): void {
  program
    .command('simulate')
    .description('run scheduling policies on a trace in a discrete-event simulator driven by a measured profile')
    .requiredOption('--trace <file>', 'trace CSV (traces/README.md), .gz accepted')
    .option('--profile <file>', 'profile JSON from `slackserve profile` (default: <supernet>/profiles/cpu-2core.json)')
    .option('--manifest <file>', 'manifest.json giving each subnet\'s accuracy (default: <supernet>/manifest.json)')
    .option('--policy <list>', 'comma-separated policies (default: config `policy`), e.g. slackfit,static-smallest,static-largest,clipper-largest,clockwork-largest,infaas')
    .option('--workers <n>', 'executors (default: config `executorThreads`)', positiveInt)
    .option('--json', 'print a JSON array of per-policy results instead of a table')
    .option('--seed <n>', 'latency-noise seed', positiveInt, 1)
    .option('--no-noise', 'use the profiled p50 for every batch instead of drawing from p50/p95')
    .option('--admission <mode>', 'reject | downgrade | off (default: config `admission`)')
    .option('--quantile <q>', 'p95 | p50: the latency policies plan with (default: config `latencyQuantile`)')
    .option('--bucket-ms <ms>', 'SlackFit bucket width (default: config `slackfitBucketMs`)', num)
    .option('--tie-break <rule>', 'SlackFit: batch | accuracy (default: config `slackfitTieBreak`)')
    .option('--dispatch-overhead-ms <ms>', 'per-batch dispatch overhead (default: config `dispatchOverheadMs`)', num)
    .option('--exits <file>', 'early exits: an exit model (slackserve-exit-model/1, e.g. <supernet>/profiles/exits-cpu-2core.json from bench/exits/model.ts); batches on the subnets it covers run staged and each request answers at its sampled exit, or with a deadline answer')
    .option('--exit-aware', 'with --exits: SlackFit plans with the median answer latency and the agreement of early answers (its exitAware option; default: config `slackfitExitAware`)')
    .option(
      '--serving [file]',
      'model the live server besides the executor (edge, core sharing, hand-off, reply path, its event-loop guard) with a measured serving model (default file: <supernet>/profiles/serving-cpu-2core.json, from bench/scheduling/fidelity.ts --measure)',
    )
    .option('--images <n>', 'images per request (traces without an images column)', positiveInt, 1)
    .option('--out <dir>', 'where plots and results.json go', 'reports/simulate')
    .option('--no-plots', 'write no plots')
    .action(async (o: SimulateFlags, cmd: Command) => {
      const cfg = configFrom(cmd, {
        policy: o.policy,
        executorThreads: o.workers,
        admission: o.admission,
        latencyQuantile: o.quantile,
        slackfitBucketMs: o.bucketMs,
        slackfitTieBreak: o.tieBreak,
        dispatchOverheadMs: o.dispatchOverheadMs,
      });
      const profile = loadProfile(o.profile ?? join(cfg.supernet, 'profiles', 'cpu-2core.json'));
      const accuracy = manifestAccuracy(o.manifest ?? join(cfg.supernet, 'manifest.json'));
      const table = LatencyTable.fromProfile(profile, { accuracy, quantile: cfg.latencyQuantile });
      const exits = o.exits !== undefined ? ExitModel.load(o.exits) : undefined;
      const trace = toColumns(await readTraceFile(o.trace));
      const policyOpts = policyOptionsFrom(cfg);
      const servingFile = typeof o.serving === 'string' ? o.serving : join(cfg.supernet, 'profiles', 'serving-cpu-2core.json');
      const serving = o.serving !== undefined ? parseServingModel(JSON.parse(await readTextFile(servingFile))) : null;
      const res = runExperiment(trace, table, {
        policies: cfg.policy.split(',').map((p) => p.trim()).filter((p) => p !== ''),
        sim: {
          workers: cfg.executorThreads,
          seed: o.seed,
          noise: o.noise,
          admission: cfg.admission,
          dispatchOverheadMs: cfg.dispatchOverheadMs,
          maxLoadedVariants: cfg.maxLoadedVariants,
          imagesPerRequest: o.images,
          ...(exits ? { exits } : {}),
          ...(serving ? { serving, edgeMarginMs: cfg.edgeMarginMs, maxConcurrent: guardedConcurrency(cfg.executorThreads, cfg.eventLoopGuardMs) } : {}),
        },
        policy: o.exitAware === true ? { ...policyOpts, slackfit: { ...policyOpts.slackfit, exitAware: true } } : policyOpts,
      });
      if (o.json) console.log(JSON.stringify(res.summaries, null, 1));
      else {
        console.log(`${trace.t_ms.length} requests, ${cfg.executorThreads} workers, profile ${profile.supernet} (${profile.machine}), planning with ${cfg.latencyQuantile}`);
        console.log(summaryTable(res.summaries));
        if (exits)
          for (const s of res.summaries)
            console.log(`${s.policy}: exits early ${(s.early_share * 100).toFixed(1)}%, deadline answers ${s.deadline_answers}, mean answer latency ${s.mean_latency_ms ?? '-'} ms`);
      }
      mkdirSync(o.out, { recursive: true });
      writeFileSync(join(o.out, 'results.json'), JSON.stringify({ trace: o.trace, workers: cfg.executorThreads, ...(o.exits !== undefined ? { exits: o.exits } : {}), summaries: res.summaries }, null, 1) + '\n');
      if (o.plots && res.series.length > 0) {
        const title = o.trace.split('/').pop() ?? o.trace;
        writeFileSync(join(o.out, 'attainment.svg'), attainmentPlot(res.series, title));
        writeFileSync(join(o.out, 'accuracy.svg'), accuracyPlot(res.series, title));
        writeFileSync(join(o.out, 'load.svg'), loadPlot(res.series[0] as (typeof res.series)[number], title));
        for (const s of res.series) writeFileSync(join(o.out, `mix-${s.policy.replace(/[^A-Za-z0-9_.-]/g, '_')}.svg`), mixPlot(s, title));
      }
      if (!o.json) console.log(`wrote ${o.out}/results.json${o.plots ? ' and plots' : ''}`);
    });
}
