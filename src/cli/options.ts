/** Helpers shared by CLI commands: configuration from global flags, number parsing. */
import { InvalidArgumentError, type Command } from 'commander';
import { loadConfig, type Config, type ConfigKey } from '../config.js';

/** Loads the configuration with the global --config file and the given flag overrides. */
export function configFrom(cmd: Command, overrides: Partial<Record<ConfigKey, unknown>> = {}): Config {
  const globals = cmd.optsWithGlobals<{ config?: string }>();
  return loadConfig({ file: globals.config, overrides });
}

export function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`expected a positive integer, got "${value}"`);
  return n;
}

export function nonNegativeInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`expected a non-negative integer, got "${value}"`);
  return n;
}
