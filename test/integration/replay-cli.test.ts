/** `slackserve replay` against a real embedded server: every request has exactly one outcome. */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { startServer } from '../../src/server/serve.js';
import { SUPERNET_DIR } from '../helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'slackserve-replay-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('slackserve replay', () => {
  it('replays a trace open loop, accounts for every request once, and writes the report files', async () => {
    const server = await startServer(loadConfig({ env: {}, overrides: { supernet: SUPERNET_DIR, grpcPort: 0, httpPort: 0, host: '127.0.0.1', executorThreads: 1 } }), { frontend: true, worker: true });
    try {
      const trace = join(dir, 't.csv');
      // 300 requests over 1.5 s; one class asks for an accuracy no subnet has (rejected at admission)
      const rows = Array.from({ length: 300 }, (_, i) => `${(i * 5).toFixed(3)},200,${i % 50 === 0 ? '0.999' : ''},0,${i % 50 === 0 ? 'strict' : 'default'}`);
      writeFileSync(trace, ['t_ms,slo_ms,min_accuracy,priority,class', ...rows].join('\n') + '\n');
      const out = join(dir, 'out');
      // asynchronous: the server runs in this process and must keep answering
      const r = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
        const child = spawn(process.execPath, ['bin/slackserve.js', 'replay', '--trace', trace, '--target', `127.0.0.1:${server.grpcPort}`, '--out', out, '--supernet', SUPERNET_DIR]);
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
        child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
        child.once('exit', (code) => resolve({ code, stdout, stderr }));
      });
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/SLO attainment \d/);
      const lines = readFileSync(join(out, 'requests.csv'), 'utf8').trim().split('\n');
      expect(lines).toHaveLength(301);
      const ids = lines.slice(1).map((l) => Number(l.split(',')[0]));
      expect(new Set(ids).size).toBe(300);
      const summary = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8')) as {
        requests: number;
        answered: number;
        errors: number;
        shed_rate: number;
        served_accuracy: number;
        client_cpu_us_per_request: number;
        client_behind_ms: { p50: number; p99: number; max: number };
        client_threads: number;
        client_limited: boolean;
        client_limited_reason: string | null;
      };
      expect(summary.requests).toBe(300);
      expect(summary.answered + summary.errors).toBe(300);
      // the 6 strict requests are rejected at admission; on a busy machine the server may shed
      // some default ones too (their 200 ms could not be met), so only at least 6 is certain
      const strict = lines.slice(1).map((l) => l.split(',')).filter((c) => c[5] === 'strict');
      expect(strict).toHaveLength(6);
      for (const c of strict) expect(c[7]).toBe('UNAVAILABLE');
      expect(summary.shed_rate).toBeGreaterThanOrEqual(6 / 300);
      expect(summary.served_accuracy).toBeGreaterThan(0.8);
      // the client's own figures: 200 req/s gets one sender thread, a host:port target the h2 transport; a client-limited verdict comes with its reason
      expect(summary.client_threads).toBe(1);
      expect(summary.client_cpu_us_per_request).toBeGreaterThan(0);
      expect(summary.client_behind_ms.p99).toBeGreaterThanOrEqual(0);
      expect(summary.client_limited).toBe(summary.client_limited_reason !== null);
      expect(r.stdout).toMatch(/client: 1 sender thread \(h2\), behind schedule p50 [\d.]+ \/ p99 [\d.]+ \/ max [\d.]+ ms, CPU \d+ us\/request/);
      if (summary.client_limited) expect(r.stderr).toMatch(/warning: .*the client, not the server, limited this run/);
      expect(readFileSync(join(out, 'perf.csv'), 'utf8')).toMatch(/^Request Rate,Inferences\/Second,/);
      expect(readFileSync(join(out, 'report.html'), 'utf8')).toMatch(/SLO attainment over time/);
    } finally {
      await server.stop();
    }
  });
});
