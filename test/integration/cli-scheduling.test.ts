/** The built CLI for traces and the simulator, run as a user would. */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const cli = (...args: string[]) => {
  const r = spawnSync(process.execPath, ['bin/slackserve.js', ...args], { encoding: 'utf8' });
  return { code: r.status, out: r.stdout, err: r.stderr };
};
const dir = mkdtempSync(join(tmpdir(), 'slackserve-sim-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('slackserve trace + simulate', () => {
  it('generates a bursty trace, summarises it, and simulates policies side by side with plots', () => {
    const trace = join(dir, 'bursty.csv');
    const gen = cli('trace', 'generate', 'bursty', '--out', trace, '--duration', '5', '--base-rate', '1500', '--burst-rate', '1500', '--cv2', '4', '--slo-ms', '36', '--seed', '3');
    expect(gen.code, gen.err).toBe(0);
    const stats = JSON.parse(cli('trace', 'stats', trace, '--json').out) as { count: number };
    expect(stats.count).toBeGreaterThan(13_000);
    const out = join(dir, 'report');
    const sim = cli('simulate', '--trace', trace, '--policy', 'slackfit,static-smallest,static-largest,infaas', '--workers', '2', '--json', '--out', out);
    expect(sim.code, sim.err).toBe(0);
    const rows = JSON.parse(sim.out) as { policy: string; requests: number; slo_attainment: number; mean_served_accuracy: number; subnet_mix: Record<string, number> }[];
    expect(rows.map((r) => r.policy)).toEqual(['slackfit', 'static-smallest', 'static-largest', 'infaas']);
    for (const r of rows) expect(r.requests).toBe(stats.count);
    const [sf, small, large] = rows;
    // 3,000 req/s is past the most accurate subnet's capacity on 2 executors (~1,860/s)
    expect(sf!.slo_attainment).toBeGreaterThan(large!.slo_attainment);
    expect(sf!.mean_served_accuracy).toBeGreaterThan(small!.mean_served_accuracy);
    expect(Object.keys(sf!.subnet_mix).length).toBeGreaterThan(1);
    for (const f of ['results.json', 'attainment.svg', 'accuracy.svg', 'mix-slackfit.svg']) expect(existsSync(join(out, f)), f).toBe(true);
    const table = cli('simulate', '--trace', trace, '--policy', 'slackfit', '--out', out, '--no-plots');
    expect(table.out).toMatch(/policy\s+attain\s+accuracy/);
  });

  it('rejects an unknown policy and a malformed trace with a clear one-line error', () => {
    const trace = join(dir, 'ok.csv');
    writeFileSync(trace, 't_ms,slo_ms\n0,30\n1,30\n');
    const bad = cli('simulate', '--trace', trace, '--policy', 'slackfit,fifo', '--out', join(dir, 'x'));
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/POLICY_UNKNOWN.*fifo/);
    const broken = join(dir, 'broken.csv');
    writeFileSync(broken, 't_ms,slo_ms\n0,30\n1,abc\n');
    const r = cli('simulate', '--trace', broken, '--out', join(dir, 'y'));
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/TRACE_INVALID.*line 3/);
    const r2 = cli('simulate', '--trace', trace, '--profile', broken, '--out', join(dir, 'z'));
    expect(r2.code).toBe(2);
    expect(r2.err).toMatch(/PROFILE_INVALID/);
  });
});
