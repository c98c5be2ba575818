import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

describe('make setup (scripts/setup.sh)', () => {
  it('is quiet and changes nothing where Redis answers and chromium is installed (this machine, after setup)', () => {
    const r = spawnSync('bash', ['scripts/setup.sh'], { encoding: 'utf8', timeout: 60_000 });
    expect(r.status).toBe(0);
    expect(r.stdout + r.stderr).toBe('');
  });

  it('make test depends on it, and CI calls the same script', () => {
    expect(readFileSync('Makefile', 'utf8')).toMatch(/^test: setup /m);
    expect(readFileSync('.ci/run', 'utf8')).toMatch(/^bash scripts\/setup\.sh$/m);
  });
});
