/**
 * `slackserve sample-run`: the committed test sample through the executor on every Pareto
 * subnet, switching subnet on every batch, with accuracy and latency per subnet. It is what
 * `make demo` runs until the server and trace replay exist.
 */
import type { Command } from 'commander';
import { executorSettings } from '../config.js';
import { SlackserveError } from '../errors.js';
import { Executor } from '../runtime/executor.js';
import { argmax } from '../runtime/supernet-graphs.js';
import { quantile } from '../runtime/timing.js';
import { Catalogue } from '../supernet/catalogue.js';
import { loadTestSample } from '../supernet/sample.js';
import { configFrom, positiveInt } from './options.js';

export function registerSampleCommands(program: Command): void {
  program
    .command('sample-run')
    .description('run the committed test sample on every Pareto subnet through the executor (subnet switched every batch)')
    .option('--supernet <dir>', 'supernet directory (default: config `supernet`)')
    .option('--batch <n>', 'images per batch', positiveInt, 16)
    .option('--mode <mode>', 'whole | staged', 'whole')
    .action(async (opts: { supernet?: string; batch: number; mode: string }, cmd: Command) => {
      if (opts.mode !== 'whole' && opts.mode !== 'staged')
        throw new SlackserveError('INPUT_INVALID', `--mode must be whole or staged, got "${opts.mode}"`);
      const cfg = configFrom(cmd, { supernet: opts.supernet });
      const cat = Catalogue.load(cfg.supernet);
      const { sample, x } = loadTestSample(cat);
      const settings = executorSettings(cfg);
      const ex = await Executor.start(cat.dir, settings);
      const ids = cat.pareto.map((s) => s.id);
      const per = cat.sampleSize;
      const correct = new Map<string, number>(ids.map((id) => [id, 0]));
      const ms = new Map<string, number[]>(ids.map((id) => [id, []]));
      console.log(`${cat.manifest.name}: ${sample.count} test images x ${ids.length} Pareto subnets, batch ${opts.batch}, ` +
        `${opts.mode} mode, ${settings.encoding} encoding, ${settings.threads} executor thread(s)`);
      try {
        // every batch goes to the next subnet in turn: switching costs nothing but control values
        for (let start = 0; start < sample.count; start += opts.batch) {
          const n = Math.min(opts.batch, sample.count - start);
          for (const id of ids) {
            const t0 = process.hrtime.bigint();
            const r = await ex.run(x.slice(start * per, (start + n) * per), id, { mode: opts.mode });
            (ms.get(id) as number[]).push(Number(process.hrtime.bigint() - t0) / 1e6);
            const pred = argmax(r.logits, cat.numClasses);
            for (let i = 0; i < n; i++) if (pred[i] === sample.labels[start + i]) correct.set(id, (correct.get(id) ?? 0) + 1);
          }
          const done = Math.min(start + n, sample.count);
          if (process.stdout.isTTY) process.stdout.write(`\r  ${done}/${sample.count} images`);
          else if (done % (opts.batch * 4) === 0 || done === sample.count) console.log(`  ${done}/${sample.count} images`);
        }
      } finally {
        await ex.close();
      }
      console.log('\n\nsubnet                    sample top-1  manifest top-1  p50 batch ms');
      for (const id of ids) {
        const t = [...(ms.get(id) as number[])].sort((a, b) => a - b);
        console.log(`${id.padEnd(24)}  ${((100 * (correct.get(id) ?? 0)) / sample.count).toFixed(2).padStart(11)}%  ` +
          `${(100 * (cat.subnet(id).top1 ?? NaN)).toFixed(2).padStart(13)}%  ${quantile(t, 0.5).toFixed(2).padStart(12)}`);
      }
    });
}
