/**
 * The one configuration module: a schema (type, default, one doc line per field), loaded from
 * defaults < JSON file < environment (SLACKSERVE_*) < explicit overrides (CLI flags), validated
 * once and frozen. Nothing else reads process.env for settings.
 */
import { readFileSync } from 'node:fs';
import { SlackserveError } from './errors.js';

import { SCHEMA, type Field } from './config-schema.js';

export { SCHEMA } from './config-schema.js';


type Schema = typeof SCHEMA;
type ValueOf<F> = F extends { type: 'enum'; values: readonly (infer V)[] }
  ? V
  : F extends { type: 'int' | 'number' }
    ? number
    : string;

export type Config = { readonly [K in keyof Schema]: ValueOf<Schema[K]> };
export type ConfigKey = keyof Schema;

function invalid(key: string, source: string, why: string): SlackserveError {
  return new SlackserveError('CONFIG_INVALID', `config ${key} (from ${source}): ${why}`, {
    key,
    source,
  });
}

function coerce(key: string, field: Field, raw: unknown, source: string): string | number {
  switch (field.type) {
    case 'string':
      if (field.optional === true && raw === '') return raw;
      if (typeof raw !== 'string' || raw.length === 0)
        throw invalid(key, source, `expected a non-empty string, got ${JSON.stringify(raw)}`);
      return raw;
    case 'int': {
      const n = typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : raw;
      if (typeof n !== 'number' || !Number.isInteger(n))
        throw invalid(key, source, `expected an integer, got ${JSON.stringify(raw)}`);
      if (n < field.min || n > field.max)
        throw invalid(key, source, `${n} is outside [${field.min}, ${field.max}]`);
      return n;
    }
    case 'number': {
      const n = typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : raw;
      if (typeof n !== 'number' || !Number.isFinite(n)) throw invalid(key, source, `expected a number, got ${JSON.stringify(raw)}`);
      if (n < field.min || n > field.max) throw invalid(key, source, `${n} is outside [${field.min}, ${field.max}]`);
      return n;
    }
    case 'enum':
      if (typeof raw !== 'string' || !field.values.includes(raw))
        throw invalid(key, source, `expected one of ${field.values.join('|')}, got ${JSON.stringify(raw)}`);
      return raw;
  }
}

export interface ConfigSources {
  /** Path of a JSON file with a subset of the fields. */
  readonly file?: string | undefined;
  /** Environment to read SLACKSERVE_* from (process.env by default). */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Highest-precedence values, e.g. from CLI flags; undefined entries are ignored. */
  readonly overrides?: Readonly<Partial<Record<ConfigKey, unknown>>>;
}

/** Builds, validates and freezes a configuration. Unknown keys in the file are errors. */
export function loadConfig(sources: ConfigSources = {}): Config {
  const fields = SCHEMA as Record<string, Field>;
  const out: Record<string, string | number> = {};
  for (const [key, field] of Object.entries(fields)) out[key] = field.default;

  if (sources.file !== undefined) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(readFileSync(sources.file, 'utf8'));
    } catch (err) {
      throw new SlackserveError('CONFIG_INVALID', `config file ${sources.file}: ${(err as Error).message}`);
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
      throw new SlackserveError('CONFIG_INVALID', `config file ${sources.file}: expected a JSON object`);
    for (const [key, raw] of Object.entries(parsed)) {
      const field = fields[key];
      if (!field) throw invalid(key, sources.file, `unknown setting (known: ${Object.keys(fields).join(', ')})`);
      out[key] = coerce(key, field, raw, sources.file);
    }
  }
  const env = sources.env ?? process.env;
  for (const [key, field] of Object.entries(fields)) {
    const raw = env[field.env];
    if (raw !== undefined && raw !== '') out[key] = coerce(key, field, raw, field.env);
  }
  for (const [key, raw] of Object.entries(sources.overrides ?? {})) {
    const field = fields[key];
    if (!field) throw invalid(key, 'overrides', 'unknown setting');
    if (raw !== undefined) out[key] = coerce(key, field, raw, 'flags');
  }
  const cfg = out as unknown as Config;
  if (cfg.redisSentinels !== '') parseSentinels(cfg.redisSentinels, 'redisSentinels');
  if ((cfg.tlsCert === '') !== (cfg.tlsKey === ''))
    throw invalid(cfg.tlsCert === '' ? 'tlsKey' : 'tlsCert', 'tls', 'tlsCert and tlsKey go together: set both or neither');
  if (cfg.tlsClientCa !== '' && cfg.tlsCert === '') throw invalid('tlsClientCa', 'tls', 'mutual TLS needs the server to serve TLS: set tlsCert and tlsKey');
  return Object.freeze(out) as unknown as Config;
}

/** `host:port,host:port` -> addresses; CONFIG_INVALID naming `key` on a malformed entry. */
export function parseSentinels(list: string, key = 'redisSentinels'): { host: string; port: number }[] {
  const out = list
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')
    .map((s) => {
      const m = /^(\[[^\]]+\]|[^:]+):(\d{1,5})$/.exec(s);
      const port = Number(m?.[2]);
      if (!m || port < 1 || port > 65535) throw invalid(key, 'sentinels', `expected host:port, got ${JSON.stringify(s)}`);
      return { host: m[1]!.replace(/^\[|\]$/g, ''), port };
    });
  if (out.length === 0) throw invalid(key, 'sentinels', 'no sentinel address');
  return out;
}

/** Whether the queue goes through Redis (a URL or Sentinels) rather than the in-process queue. */
export function usesRedis(c: Config): boolean {
  return c.redisUrl !== 'embedded' || c.redisSentinels !== '';
}

/** Placeholder that replaces a secret in anything printed. */
export const REDACTED = '***';

/** A URL with its password (if any) replaced: `redis://user:secret@host` -> `redis://user:***@host`. */
export function redactUrl(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/)([^:@/]*):([^/]*)@/i, (_m, scheme: string, user: string) => `${scheme}${user}:${REDACTED}@`);
}

/**
 * The configuration as it may be printed (`slackserve config`, logs): every `secret` field of the
 * schema redacted (tokens as `***`, URLs without their password). The one place secrets are hidden.
 */
export function redactedConfig(c: Config): Readonly<Record<ConfigKey, string | number>> {
  const out: Record<string, string | number> = { ...c };
  for (const [key, field] of Object.entries(SCHEMA as Record<string, Field>)) {
    const v = out[key];
    if (field.type !== 'string' || field.secret === undefined || typeof v !== 'string' || v === '') continue;
    out[key] = field.secret === 'url' ? redactUrl(v) : REDACTED;
  }
  return Object.freeze(out) as Readonly<Record<ConfigKey, string | number>>;
}

/** The executor settings a configuration implies. */
export function executorSettings(c: Config): {
  threads: number;
  intraOpThreads: number;
  executionProvider: 'cpu' | 'cuda';
  spinning: boolean;
  maxBatch: number;
  encoding: 'branched' | 'sliced';
} {
  return {
    threads: c.executorThreads,
    intraOpThreads: c.ortIntraOpThreads,
    executionProvider: c.executionProvider,
    spinning: c.ortSpinning === 'on',
    maxBatch: c.maxBatch,
    encoding: c.encoding,
  };
}

/** The markdown table in docs/config.md. */
export function configDocs(): string {
  const rows = Object.entries(SCHEMA as Record<string, Field>).map(([key, f]) => {
    const allowed = f.type === 'enum' ? f.values.join(' \\| ') : f.type === 'int' ? `int ${f.min}..${f.max}` : f.type === 'number' ? `number ${f.min}..${f.max}` : 'string';
    const def = f.default === '' ? 'unset' : `\`${String(f.default)}\``;
    return `| \`${key}\` | \`${f.env}\` | ${allowed}${f.type === 'string' && f.secret ? ' (secret)' : ''} | ${def} | ${f.doc} |`;
  });
  return ['| key | environment | type | default | meaning |', '|---|---|---|---|---|', ...rows].join('\n');
}
