/**
 * The `slackserve` command line. Each command group lives in its own file; this one wires them
 * up and turns typed errors into a one-line message and a non-zero exit status.
 */
import { Command, CommanderError } from 'commander';
import { asSlackserveError } from '../errors.js';
import { registerConfigCommands } from './config-commands.js';
import { registerRuntimeCommands } from './runtime-commands.js';
import { registerDashboardCommands } from './dashboard-commands.js';
import { registerDemoCommands } from './demo-commands.js';
import { registerReplayCommands } from './replay-commands.js';
import { registerSampleCommands } from './sample-commands.js';
import { registerServeCommands } from './serve-commands.js';
import { registerSimulateCommands } from './simulate-commands.js';
import { registerSupernetCommands } from './supernet-commands.js';
import { registerTraceCommands } from './trace-commands.js';

export function buildProgram(): Command {
  const program = new Command('slackserve')
    .description('Serve a weight-shared supernet with per-request SLOs: SlackFit picks subnet and batch, early exits answer early.')
    .option('--config <file>', 'JSON configuration file (see docs/config.md)')
    .showHelpAfterError()
    .exitOverride();
  registerSupernetCommands(program);
  registerRuntimeCommands(program);
  registerSampleCommands(program);
  registerConfigCommands(program);
  registerTraceCommands(program);
  registerSimulateCommands(program);
  registerServeCommands(program);
  registerReplayCommands(program);
  registerDemoCommands(program);
  registerDashboardCommands(program);
  return program;
}

export async function main(argv: readonly string[]): Promise<void> {
  const program = buildProgram();
  try {
    await program.parseAsync([...argv]);
  } catch (err) {
    if (err instanceof CommanderError) {
      // help and version exit with code 0; usage errors were already printed by commander
      process.exitCode = err.exitCode;
      return;
    }
    const e = asSlackserveError(err);
    console.error(`slackserve: error [${e.code}]: ${e.message}`);
    if (e.code === 'INTERNAL' && e.cause instanceof Error && e.cause.stack) console.error(e.cause.stack);
    process.exitCode = e.code === 'INTERNAL' ? 70 : 2;
  }
}
