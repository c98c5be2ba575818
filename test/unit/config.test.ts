import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { configDocs, loadConfig, SCHEMA } from '../../src/config.js';
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

  it('docs/config.md carries the generated table for every setting', () => {
    const doc = readFileSync('docs/config.md', 'utf8');
    expect(doc).toContain(configDocs());
  });
});
