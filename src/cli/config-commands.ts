/** `slackserve config`: show the resolved configuration or its documentation table. */
import type { Command } from 'commander';
import { configDocs, redactedConfig } from '../config.js';
import { configFrom } from './options.js';

export function registerConfigCommands(program: Command): void {
  program
    .command('config')
    .description('print the resolved configuration (defaults < --config file < SLACKSERVE_* environment), secrets redacted')
    .option('--docs', 'print the markdown table of every setting instead')
    .action((opts: { docs?: boolean }, cmd: Command) => {
      console.log(opts.docs ? configDocs() : JSON.stringify(redactedConfig(configFrom(cmd)), null, 2));
    });
}
