import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { configDocs, loadConfig, parseSentinels, redactedConfig, SCHEMA, usesRedis } from '../../src/config.js';
import { SlackserveError } from '../../src/errors.js';

const tmpFile = (content: string): string => {
  const f = join(mkdtempSync(join(tmpdir(), 'cfg-')), 'c.json');
  writeFileSync(f, content);
  return f;
};

describe('config', () => {
  it('starts from the documented defaults and is frozen', () => {
    const c = loadConfig({ env: {} });
    for (const [k, f] of Object.entries(SCHEMA)) expect(c[k as keyof typeof c]).toBe(f.default);
    expect(Object.isFrozen(c)).toBe(true);
  });

  it('layers file < environment < overrides', () => {
    const file = tmpFile(JSON.stringify({ ortIntraOpThreads: 2, logLevel: 'warn' }));
    const c = loadConfig({ file, env: { SLACKSERVE_ORT_INTRA_OP_THREADS: '3' }, overrides: { logLevel: 'debug' } });
    expect(c.ortIntraOpThreads).toBe(3);
    expect(c.logLevel).toBe('debug');
  });

  it('rejects bad values with the key and source in the message', () => {
    expect(() => loadConfig({ env: { SLACKSERVE_ORT_INTRA_OP_THREADS: 'two' } })).toThrow(/ortIntraOpThreads.*SLACKSERVE_ORT_INTRA_OP_THREADS.*integer/);
    expect(() => loadConfig({ env: { SLACKSERVE_ORT_INTRA_OP_THREADS: '0' } })).toThrow(/outside \[1, 64\]/);
    expect(() => loadConfig({ env: { SLACKSERVE_EXECUTION_PROVIDER: 'tpu' } })).toThrow(/cpu\|cuda/);
    expect(() => loadConfig({ file: tmpFile('{"nope": 1}'), env: {} })).toThrow(/unknown setting/);
    expect(() => loadConfig({ file: tmpFile('{not json'), env: {} })).toThrow(SlackserveError);
    try {
      loadConfig({ file: tmpFile('[1]'), env: {} });
      expect.unreachable();
    } catch (e) {
      expect((e as SlackserveError).code).toBe('CONFIG_INVALID');
    }
  });

  it('Redis Sentinel settings: parsed, validated, the sentinel password redacted', () => {
    expect(parseSentinels('10.0.0.1:26379, sentinel-b:26380,[::1]:26381')).toEqual([
      { host: '10.0.0.1', port: 26379 },
      { host: 'sentinel-b', port: 26380 },
      { host: '::1', port: 26381 },
    ]);
    for (const bad of ['10.0.0.1', 'a:0', 'a:99999', ',', 'a:1,b'])
      expect(() => loadConfig({ env: { SLACKSERVE_REDIS_SENTINELS: bad } }), bad).toThrow(/redisSentinels/);
    const c = loadConfig({ env: { SLACKSERVE_REDIS_SENTINELS: 'h:26379', SLACKSERVE_REDIS_SENTINEL_PASSWORD: 'sentinel-pw', SLACKSERVE_REDIS_URL: 'redis://:master-pw@x' } });
    expect(usesRedis(c)).toBe(true);
    expect(usesRedis(loadConfig({ env: {} }))).toBe(false);
    const shown = JSON.stringify(redactedConfig(c));
    expect(shown).not.toContain('sentinel-pw');
    expect(shown).not.toContain('master-pw');
  });

  it('docs/config.md carries the generated table for every setting', () => {
    const doc = readFileSync('docs/config.md', 'utf8');
    expect(doc).toContain(configDocs());
  });
});
