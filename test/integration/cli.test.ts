/** The built CLI (`bin/slackserve.js`, run as a user would) : help, inspect, validate, errors. */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Profile } from '../../src/runtime/profile.js';
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
    for (const args of [['supernet', '--help'], ['supernet', 'inspect', '--help'], ['supernet', 'validate', '--help'], ['supernet', 'evaluate', '--help'], ['supernet', 'report', '--help'], ['profile', '--help'], ['sample-run', '--help'], ['config', '--help'], ['simulate', '--help'], ['trace', 'stats', '--help'], ['trace', 'generate', '--help']]) {
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

  it('profile writes a profile JSON and plot for the chosen subnets and batch sizes', () => {
    const dir = mkdtempSync(join(tmpdir(), 'profile-'));
    const cat = Catalogue.load(SUPERNET_DIR);
    const ids = cat.pareto.slice(0, 2).map((s) => s.id);
    const out = join(dir, 'p.json');
    const r = cli('profile', '--supernet', SUPERNET_DIR, '--out', out, '--batch-sizes', '4,1', '--repeats', '3', '--subnets', ids.join(','));
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/\[4\/4\]/); // progress lines
    const p = JSON.parse(readFileSync(out, 'utf8')) as Profile;
    expect(p.format).toBe('slackserve-profile/1');
    expect(p.batch_sizes).toEqual([1, 4]);
    expect(p.subnets.map((s) => s.id)).toEqual(ids);
    for (const s of p.subnets)
      for (const b of ['1', '4']) {
        expect(s.whole[b]!.p50).toBeGreaterThan(0);
        expect(s.whole[b]!.p95).toBeGreaterThanOrEqual(s.whole[b]!.p50);
        expect(s.stages[b]!.map((x) => x.stage)).toEqual([...cat.subnet(s.id).stages, 'head']);
      }
    expect(readFileSync(join(dir, 'p.svg'), 'utf8')).toMatch(/^<svg/);
    expect(cli('profile', '--out', out, '--subnets', 'nope').err).toMatch(/SUBNET_UNKNOWN/);
  });

  it('the committed profile covers every Pareto subnet at every batch size', () => {
    const cat = Catalogue.load(SUPERNET_DIR);
    const p = JSON.parse(readFileSync(join(SUPERNET_DIR, 'profiles/cpu-2core.json'), 'utf8')) as Profile;
    expect(p.subnets.map((s) => s.id)).toEqual(cat.pareto.map((s) => s.id));
    for (const s of p.subnets) for (const b of p.batch_sizes) expect(s.whole[b]?.p50).toBeGreaterThan(0);
  });

  it('sample-run reports every Pareto subnet with its sample accuracy', () => {
    const r = cli('sample-run', '--supernet', SUPERNET_DIR, '--batch', '64');
    expect(r.code, r.err).toBe(0);
    const cat = Catalogue.load(SUPERNET_DIR);
    for (const s of cat.pareto) expect(r.out).toMatch(new RegExp(`${s.id}\\s+\\d+\\.\\d\\d%`));
    expect(cli('sample-run', '--mode', 'sideways').err).toMatch(/INPUT_INVALID.*--mode must be whole or staged/);
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
    const prio = cli('replay', '--trace', 'traces/demo-maf-burst.csv', '--client-priority', 'high');
    expect(prio.code).not.toBe(0);
    expect(prio.err).toMatch(/--client-priority.*expected normal or realtime, got "high"/);
  });
});
