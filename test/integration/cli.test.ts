/** The built CLI (`bin/slackserve.js`, run as a user would) : help, inspect, validate, errors. */
import { spawnSync } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { Catalogue } from '../../src/supernet/catalogue.js';
import { mutatedSupernet, SUPERNET_DIR } from '../helpers.js';

const cli = (...args: string[]) => {
  const r = spawnSync(process.execPath, ['bin/slackserve.js', ...args], { encoding: 'utf8', env: { ...process.env, SLACKSERVE_LOG_LEVEL: '' } });
  return { code: r.status, out: r.stdout, err: r.stderr };
};

const cleanups: (() => void)[] = [];
afterEach(() => cleanups.splice(0).forEach((c) => c()));

describe('slackserve CLI', () => {
  it('--help on every command', () => {
    const top = cli('--help');
    expect(top.code).toBe(0);
    expect(top.out).toMatch(/supernet/);
    expect(top.out).toMatch(/config/);
    for (const args of [['supernet', '--help'], ['supernet', 'inspect', '--help'], ['supernet', 'validate', '--help'], ['supernet', 'evaluate', '--help'], ['supernet', 'report', '--help'], ['config', '--help']]) {
      const r = cli(...args);
      expect(r.code, args.join(' ')).toBe(0);
      expect(r.out).toMatch(/Usage: slackserve/);
    }
  });

  it('supernet inspect lists every subnet and marks the Pareto set', () => {
    const r = cli('supernet', 'inspect', '--supernet', SUPERNET_DIR);
    expect(r.code).toBe(0);
    const cat = Catalogue.load(SUPERNET_DIR);
    for (const s of cat.subnets) expect(r.out).toContain(s.id);
    expect(r.out.split('\n').filter((l) => l.startsWith('*')).length).toBe(cat.pareto.length);
    const json = JSON.parse(cli('supernet', 'inspect', '--supernet', SUPERNET_DIR, '--json').out) as { id: string; pareto: boolean }[];
    expect(json.length).toBe(cat.subnets.length);
  });

  it('supernet validate --deep loads every graph', () => {
    const r = cli('supernet', 'validate', '--supernet', SUPERNET_DIR, '--deep');
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^ok: .*all loaded/);
  });

  it('a broken manifest gives a one-line typed error and exit status 2', () => {
    const t = mutatedSupernet((m) => (m.input.shape = [-1, 1, 28]));
    cleanups.push(t.cleanup);
    const r = cli('supernet', 'validate', '--supernet', t.dir);
    expect(r.code).toBe(2);
    expect(r.err.trim()).toMatch(/^slackserve: error \[MANIFEST_INVALID\]: .*input\.shape: expected 4 integers, got 3$/);
  });

  it('bad flags and bad settings are rejected', () => {
    expect(cli('supernet', 'evaluate', '--batch', 'zero').code).not.toBe(0);
    const r = spawnSync(process.execPath, ['bin/slackserve.js', 'config'], {
      encoding: 'utf8',
      env: { ...process.env, SLACKSERVE_EXECUTION_PROVIDER: 'tpu' },
    });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/CONFIG_INVALID.*cpu\|cuda/);
    expect(cli('config', '--docs').out).toContain('SLACKSERVE_SUPERNET');
  });
});
