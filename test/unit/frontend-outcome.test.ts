/**
 * The frontend counts an SLO outcome as the client sees it: met when the answer is ready by the
 * client's deadline, whatever the worker reported against its own (earlier) deadline. Real
 * in-process queue, a hand-driven worker side and an injected clock.
 */
import { describe, expect, it } from 'vitest';
import { NEVER_CANCELLED } from '../../src/api/cancel.js';
import { EMPTY_PARAMS } from '../../src/api/params.js';
import { parseSlo } from '../../src/api/slo.js';
import type { DecodedInfer } from '../../src/api/types.js';
import { loadConfig } from '../../src/config.js';
import { Metrics } from '../../src/metrics/metrics.js';
import { createMemoryQueue } from '../../src/queue/memory-queue.js';
import { Frontend } from '../../src/server/frontend.js';
import { latencyTableFor } from '../../src/server/serve.js';
import { Catalogue } from '../../src/supernet/catalogue.js';
import { decodedInfer } from '../frontend-fixtures.js';
import { SUPERNET_DIR } from '../helpers.js';

describe('frontend SLO outcomes', () => {
  it('counts met and missed against the client deadline, not the worker verdict', async () => {
    const cat = Catalogue.load(SUPERNET_DIR);
    const table = latencyTableFor(loadConfig({ env: {}, overrides: { supernet: SUPERNET_DIR } }), cat);
    let now = 1_000_000;
    const queue = createMemoryQueue();
    const metrics = new Metrics('frontend');
    const f = new Frontend({ id: 'fe', queue, catalogue: cat, table, admission: 'off', dispatchOverheadMs: 0, executors: 1, maxBatch: 64, graceMs: 10_000, edgeMarginMs: 5, clock: () => now, version: '1', metrics });
    await f.start();
    const request = (id: string): DecodedInfer => decodedInfer(cat, id, EMPTY_PARAMS, now);
    const answerAfter = async (ms: number): Promise<void> => {
      const call = f.infer(request(`r${ms}`), { cancel: NEVER_CANCELLED });
      const [d] = await queue.pull('w', 1, 1000);
      now += ms;
      // the worker says it met its deadline either way
      await queue.reply({ id: d!.request.id, ok: true, final: true, subnet: table.subnets[0]!.id, exit: null, logits: new Uint8Array(40), classes: [0], queueUs: 0, computeUs: 1, deadlineMet: true, downgraded: false, worker: 'w' }, 'fe');
      await call;
    };
    await answerAfter(20); // within the 50 ms budget
    await answerAfter(80); // past it
    const text = await metrics.text();
    expect(text).toMatch(/slackserve_slo_outcome_total\{class="default",outcome="met"[^}]*\} 1\b/);
    expect(text).toMatch(/slackserve_slo_outcome_total\{class="default",outcome="missed"[^}]*\} 1\b/);

    // the worker expires a request at its deadline: a client-set deadline -> DEADLINE_EXCEEDED
    const expireAfter = async (ms: number, params: DecodedInfer['params']): Promise<{ code: string; message: string }> => {
      const req = { ...request(`e${ms}`), params, slo: parseSlo(params, { now, defaultBudgetMs: 50 }) };
      const call = f.infer(req, { cancel: NEVER_CANCELLED }).then(
        () => ({ code: 'OK', message: '' }),
        (e: { code: string; message: string }) => ({ code: e.code, message: e.message }),
      );
      const [d] = await queue.pull('w', 1, 1000);
      now += ms;
      await queue.reply({ id: d!.request.id, ok: false, code: 'DEADLINE_EXPIRED', message: 'Request timeout expired' }, 'fe');
      return call;
    };
    const budget = new Map([['slackserve.latency_budget_ms', { kind: 'int64', value: 40n } as const]]);
    expect(await expireAfter(36, budget)).toEqual({ code: 'DEADLINE_EXCEEDED', message: expect.stringMatching(/^Deadline exceeded: the request's deadline \(slackserve.latency_budget_ms, 40.0 ms/) });
    // dropped with time left (shed), and the server's own default budget: UNAVAILABLE as before
    expect(await expireAfter(5, budget)).toEqual({ code: 'DEADLINE_EXPIRED', message: expect.stringMatching(/^Request timeout expired: shed after 5.0 ms/) });
    expect(await expireAfter(46, EMPTY_PARAMS)).toEqual({ code: 'DEADLINE_EXPIRED', message: expect.stringMatching(/default budget of 50.0 ms passed/) });
    // and the statistics count 2 successes and 3 failures with their durations
    const [st] = await f.modelStatistics(cat.manifest.name, '');
    expect([st!.inference_stats.success.count, st!.inference_stats.fail.count, st!.inference_count]).toEqual([2, 3, 2]);
    expect(st!.inference_stats.success.ns).toBe((20 + 80) * 1e6);
    expect(st!.inference_stats.fail.ns).toBe((36 + 5 + 46) * 1e6);
    await f.stop();
    await queue.close();
  });
});
