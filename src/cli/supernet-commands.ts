/** `slackserve supernet ...`: inspect, validate and evaluate a supernet directory. */
import type { Command } from 'commander';
import { evaluateSupernet, writeReports } from '../runtime/evaluate.js';
import { SupernetGraphs } from '../runtime/supernet-graphs.js';
import { SlackserveError } from '../errors.js';
import { Catalogue } from '../supernet/catalogue.js';
import { DEFAULT_FASHION_MNIST_DIR } from '../supernet/dataset.js';
import { configFrom, nonNegativeInt, positiveInt } from './options.js';

interface DirOpts {
  supernet?: string;
}

export function registerSupernetCommands(program: Command): void {
  const sn = program.command('supernet').description('inspect, validate and evaluate a supernet directory');

  sn.command('inspect')
    .description('list the subnets of a supernet: choices, MACs, accuracy, latency, Pareto membership')
    .option('--supernet <dir>', 'supernet directory (default: config `supernet`)')
    .option('--json', 'print the subnet list as JSON')
    .action((opts: DirOpts & { json?: boolean }, cmd: Command) => {
      const cfg = configFrom(cmd, { supernet: opts.supernet });
      const cat = Catalogue.load(cfg.supernet);
      const pareto = new Set(cat.manifest.pareto ?? []);
      if (opts.json) {
        console.log(JSON.stringify(cat.subnets.map((s) => ({ ...s, pareto: pareto.has(s.id) })), null, 2));
        return;
      }
      console.log(`${cat.manifest.name}: ${cat.subnets.length} subnets, ${cat.manifest.pareto?.length ?? 'no'} on the Pareto set (${cat.dir})`);
      console.log('P  id                        MMACs    top-1   b16 static ms  b16 SubNetAct ms');
      for (const s of cat.subnets) {
        const l = s.latency_ms;
        console.log(
          `${pareto.has(s.id) ? '*' : ' '}  ${s.id.padEnd(24)} ${(s.macs / 1e6).toFixed(2).padStart(7)}  ` +
            `${s.top1 === undefined ? '   -  ' : (100 * s.top1).toFixed(2).padStart(6)}  ` +
            `${(l ? l.static.p50.toFixed(2) : '-').padStart(13)}  ${(l ? l.supernet.p50.toFixed(2) : '-').padStart(15)}`,
        );
      }
    });

  sn.command('validate')
    .description('validate manifest.json and check that every graph it names exists')
    .option('--supernet <dir>', 'supernet directory (default: config `supernet`)')
    .option('--deep', 'also load every graph in onnxruntime and check its inputs and outputs')
    .action(async (opts: DirOpts & { deep?: boolean }, cmd: Command) => {
      const cfg = configFrom(cmd, { supernet: opts.supernet });
      const cat = Catalogue.load(cfg.supernet);
      if (opts.deep) {
        const g = await SupernetGraphs.open(cat, { intraOpThreads: cfg.ortIntraOpThreads, executionProvider: cfg.executionProvider });
        for (const s of cat.subnets) await g.staticSession(s.id);
        await g.close();
      }
      console.log(`ok: ${cat.dir}/manifest.json (${cat.subnets.length} subnets, ${cat.graphFiles().length} graphs${opts.deep ? ', all loaded' : ''})`);
    });

  sn.command('report')
    .description('rewrite report.md and pareto.svg from an evaluated manifest.json (measures nothing)')
    .option('--supernet <dir>', 'supernet directory (default: config `supernet`)')
    .action((opts: DirOpts, cmd: Command) => {
      const cat = Catalogue.load(configFrom(cmd, { supernet: opts.supernet }).supernet);
      if (cat.manifest.pareto === null)
        throw new SlackserveError('MANIFEST_INVALID', `${cat.dir}/manifest.json has not been evaluated yet: run \`slackserve supernet evaluate\``);
      console.log(writeReports(cat));
    });

  sn.command('evaluate')
    .description('measure every subnet through onnxruntime (test top-1, ramps, batch latency), pick the Pareto set, update manifest.json')
    .option('--supernet <dir>', 'supernet directory (default: config `supernet`)')
    .option('--dataset <dir>', 'Fashion-MNIST directory with the official IDX files', DEFAULT_FASHION_MNIST_DIR)
    .option('--batch <n>', 'batch size for the latency measurement', positiveInt, 16)
    .option('--repeats <n>', 'timed runs per subnet and encoding', positiveInt, 40)
    .option('--limit <n>', 'use only the first N test images (0 = all)', nonNegativeInt, 0)
    .action(async (opts: DirOpts & { dataset: string; batch: number; repeats: number; limit: number }, cmd: Command) => {
      const cfg = configFrom(cmd, { supernet: opts.supernet });
      const { report } = await evaluateSupernet({
        dir: cfg.supernet,
        datasetDir: opts.dataset,
        settings: { intraOpThreads: cfg.ortIntraOpThreads, executionProvider: cfg.executionProvider },
        latencyBatch: opts.batch,
        repeats: opts.repeats,
        limit: opts.limit,
        log: (line) => console.log(line),
      });
      console.log('\n' + report);
    });
}
