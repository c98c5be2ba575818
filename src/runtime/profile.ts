/**
 * `slackserve profile`: latency of every served subnet at every batch size on this machine, the
 * input of the scheduler and the simulator. Whole-graph and staged latency are measured through
 * the executor (worker thread included, as the worker loop sees them); each stage's own cost is
 * measured on the sessions directly.
 */
import { cpus } from 'node:os';
import { SlackserveError } from '../errors.js';
import type { Catalogue } from '../supernet/catalogue.js';
import type { LatencyStats } from '../supernet/manifest-types.js';
import { Executor, type ExecutorSettings } from './executor.js';
import { ort } from './session.js';
import { SupernetGraphs } from './supernet-graphs.js';
import { syntheticBatch, timeIt, type Timing } from './timing.js';

export { PROFILE_FORMAT, type Profile, type SubnetProfile } from '../supernet/profile-file.js';
import { PROFILE_FORMAT, type Profile, type SubnetProfile } from '../supernet/profile-file.js';

export interface ProfileOptions {
  readonly catalogue: Catalogue;
  readonly settings: ExecutorSettings;
  readonly batchSizes: readonly number[];
  readonly repeats: number;
  /** Subnet ids to profile (default: the served Pareto set). */
  readonly subnets?: readonly string[];
  readonly log: (line: string) => void;
}

const q = (t: Timing): LatencyStats => ({ p50: round(t.p50), p95: round(t.p95) });
const round = (v: number): number => Math.round(v * 1000) / 1000;

export async function profileSupernet(opts: ProfileOptions): Promise<Profile> {
  const cat = opts.catalogue;
  const ids = opts.subnets ?? cat.pareto.map((s) => s.id);
  const maxB = Math.max(...opts.batchSizes);
  if (maxB > opts.settings.maxBatch)
    throw new SlackserveError('INPUT_INVALID', `batch size ${maxB} exceeds the executor's maximum ${opts.settings.maxBatch}`);
  const executor = await Executor.start(cat.dir, opts.settings);
  const graphs = await SupernetGraphs.open(cat, opts.settings, opts.settings.encoding ?? 'branched');
  const out: SubnetProfile[] = [];
  const total = ids.length * opts.batchSizes.length;
  let done = 0;
  const t0 = Date.now();
  try {
    for (const id of ids) {
      const s = cat.subnet(id);
      const whole: Record<string, LatencyStats> = {};
      const staged: Record<string, LatencyStats> = {};
      const stages: Record<string, { stage: string; p50: number }[]> = {};
      for (const b of opts.batchSizes) {
        const x = syntheticBatch(b, cat.sampleSize);
        // the executor takes ownership of its input, so each run gets its own copy
        whole[b] = q(await timeIt(() => executor.run(x.slice(), id, { mode: 'whole' }), opts.repeats));
        staged[b] = q(await timeIt(() => executor.run(x.slice(), id, { mode: 'staged' }), opts.repeats));
        stages[b] = await stageCosts(graphs, id, x, opts.repeats);
        done++;
        opts.log(
          `[${done}/${total}] ${id} batch ${b}: whole p50 ${whole[b]!.p50.toFixed(3)} ms, staged p50 ${staged[b]!.p50.toFixed(3)} ms ` +
            `(${((Date.now() - t0) / 1000).toFixed(0)}s)`,
        );
      }
      out.push({ id, top1: s.top1 ?? null, macs: s.macs, whole, staged, stages });
    }
  } finally {
    await executor.close();
    await graphs.close();
  }
  return {
    format: PROFILE_FORMAT,
    supernet: cat.manifest.name,
    date: new Date().toISOString(),
    machine: `${cpus().length} cores, ${cpus()[0]?.model ?? 'unknown CPU'}`,
    onnxruntime: ort.env.versions.common,
    settings: {
      threads: opts.settings.threads,
      intraOpThreads: opts.settings.intraOpThreads,
      executionProvider: opts.settings.executionProvider,
      spinning: opts.settings.spinning ?? false,
      encoding: opts.settings.encoding ?? 'branched',
    },
    repeats: opts.repeats,
    batch_sizes: [...opts.batchSizes],
    subnets: out,
  };
}

/** p50 of each stage of the subnet's chain run on its own (hidden state captured once). */
async function stageCosts(graphs: SupernetGraphs, id: string, x: Float32Array, repeats: number): Promise<{ stage: string; p50: number }[]> {
  const costs: { stage: string; p50: number }[] = [];
  const chain = graphs.catalogue.stageChain(id);
  let hidden: ort.Tensor | Float32Array = x;
  let last: ort.Tensor | null = null;
  for (const st of chain) {
    const input: ort.Tensor | Float32Array = hidden;
    const t = await timeIt(() => graphs.runStage(input, id, st.id), repeats, 2);
    costs.push({ stage: st.id, p50: round(t.p50) });
    last = (await graphs.runStage(input, id, st.id)).hidden;
    hidden = last;
  }
  const final = last as ort.Tensor; // a subnet has at least one stage (validated)
  costs.push({ stage: 'head', p50: round((await timeIt(() => graphs.runHead(final, id), repeats, 2)).p50) });
  return costs;
}
