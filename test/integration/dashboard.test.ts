/**
 * The live dashboard in real headless Chromium (Debian's `chromium`, driven by playwright-core):
 * the page loads without console errors, its charts receive live points while a short replay
 * runs, and a screenshot is saved as a test artifact (test-artifacts/dashboard.png).
 */
import { mkdirSync } from 'node:fs';
import { chromium } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { replay } from '../../src/replay/replayer.js';
import { startServer } from '../../src/server/serve.js';
import { loadTestSample } from '../../src/supernet/sample.js';
import { poisson } from '../../src/trace/generators.js';
import { SUPERNET_DIR } from '../helpers.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
// page.evaluate callbacks run in the browser; the test's tsconfig has no DOM types
declare const window: any;
declare const document: any;

describe('dashboard', () => {
  it('streams live SLO attainment into its charts while a replay runs, with no console errors', async () => {
    const server = await startServer(loadConfig({ env: {}, overrides: { supernet: SUPERNET_DIR, grpcPort: 0, httpPort: 0, host: '127.0.0.1', executorThreads: 1 } }), { frontend: true, worker: true });
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
    try {
      const page = await browser.newPage({ viewport: { width: 1500, height: 1000 } });
      const errors: string[] = [];
      page.on('console', (m) => {
        if (m.type() === 'error') errors.push(m.text());
      });
      page.on('pageerror', (e) => errors.push(e.message));
      await page.goto(`http://127.0.0.1:${server.httpPort}/dashboard`);
      await page.waitForFunction(() => (window as { __dashboard: { points: number } }).__dashboard.points >= 1, undefined, { timeout: 10_000 });
      const cat = server.catalogue;
      const { sample, x } = loadTestSample(cat);
      const run = replay({
        target: `127.0.0.1:${server.grpcPort}`,
        model: cat.manifest.name,
        inputName: cat.manifest.input.name,
        trace: poisson({ rate: 150, durationS: 3, sloMs: 100, seed: 2 }),
        images: x,
        labels: sample.labels,
        sampleShape: cat.sampleShape,
        threads: 1,
      });
      // while the replay runs the page keeps receiving points, and the attainment tile fills in
      const before = await page.evaluate(() => (window as { __dashboard: { points: number } }).__dashboard.points);
      await page.waitForFunction((n) => (window as { __dashboard: { points: number } }).__dashboard.points >= n + 4, before, { timeout: 15_000 });
      await page.waitForFunction(() => /%$/.test(document.getElementById('att')?.textContent ?? ''), undefined, { timeout: 15_000 });
      const result = await run;
      expect(result.records.length).toBe(result.total);
      await page.waitForFunction(() => /%$/.test(document.getElementById('cum')?.textContent ?? ''), undefined, { timeout: 10_000 });
      const subnets = await page.evaluate(() => document.getElementById('subnets')?.textContent ?? '');
      expect(subnets).toMatch(/r\d\d_d\d{3}/);
      // the operator's charts: latency p50/p99 against the SLO line, the subnet mix stacked under
      // the offered load, served accuracy against the Pareto range, shed and deadline answers
      const canvases = await page.evaluate(() => document.querySelectorAll('canvas').length);
      expect(canvases).toBeGreaterThanOrEqual(6);
      const titles = await page.evaluate(() => Array.from(document.querySelectorAll('.u-title')).map((e: any) => e.textContent));
      expect(titles).toEqual(expect.arrayContaining([
        'latency p50 / p99 against the SLO (ms)',
        'subnet mix (answered req/s) under the offered load',
        'served accuracy against the Pareto range',
        'shed and deadline answers (/s, 5 s)',
      ]));
      const last = await page.evaluate(() => (window as { __dashboard: { last: any } }).__dashboard.last);
      expect(last.sloMs).toBe(100); // the replay's budget
      expect(last.latencyP50).toBeGreaterThan(0);
      expect(last.latencyP99).toBeGreaterThanOrEqual(last.latencyP50);
      // the mix chart's legend names the served subnets, and the Pareto band holds the served accuracy
      const legend = await page.evaluate(() => document.getElementById('c-mix')?.textContent ?? '');
      expect(legend).toContain(server.catalogue.pareto[0]!.id);
      expect(legend).toContain('offered load');
      const { acc, range } = await page.evaluate(() => ({ acc: (window as any).__dashboard.last.accuracy, range: (window as any).__dashboard.range }));
      expect(range.max).toBeGreaterThan(range.min);
      expect(acc).toBeGreaterThanOrEqual(range.min - 1e-9);
      expect(acc).toBeLessThanOrEqual(range.max + 1e-9);
      mkdirSync('test-artifacts', { recursive: true });
      await page.screenshot({ path: 'test-artifacts/dashboard.png', fullPage: true });
      expect(errors).toEqual([]);
    } finally {
      await browser.close();
      await server.stop();
    }
  });
});
