/**
 * The edge margin measured from the reply path (src/server/reply-margin.ts), alone and in the
 * frontend: after answers whose reply path was slow, the worker's deadline of the next call is
 * earlier by that much (up to a quarter of the budget); with the measured margin off, it is not.
 */
import { describe, expect, it } from 'vitest';
import { NEVER_CANCELLED } from '../../src/api/cancel.js';
import type { DecodedInfer } from '../../src/api/types.js';
import { loadConfig } from '../../src/config.js';
import { createMemoryQueue } from '../../src/queue/memory-queue.js';
import { Frontend } from '../../src/server/frontend.js';
import { ReplyMargin } from '../../src/server/reply-margin.js';
import { latencyTableFor } from '../../src/server/serve.js';
import { Catalogue } from '../../src/supernet/catalogue.js';
import { decodedInfer } from '../frontend-fixtures.js';
import { rng, SUPERNET_DIR } from '../helpers.js';

describe('ReplyMargin', () => {
  it('is the floor until answers are slower than it, then their quantile (checked against a sorted sample)', () => {
    const m = new ReplyMargin({ quantile: 0.9, windowMs: 1000, floorMs: 5, refreshMs: 0 });
    expect(m.marginMs(0)).toBe(5);
    for (let i = 0; i < 100; i++) m.observe(i, 1); // fast replies: the floor holds
    expect(m.marginMs(100)).toBe(5);
    const r = rng(3);
    const xs: number[] = [];
    for (let i = 0; i < 200; i++) {
      const x = 10 + 40 * r();
      xs.push(x);
      m.observe(200 + i, x);
    }
    const sorted = [...xs].sort((a, b) => a - b);
    // the ring keeps the last 256 answers: 56 fast ones and the 200 slow ones
    const all = [...Array(56).fill(1), ...sorted].sort((a, b) => a - b);
    expect(m.marginMs(400)).toBeCloseTo(all[Math.floor(0.9 * all.length)] as number, 9);
    expect(m.marginMs(400)).toBeGreaterThan(40);
  });

  it('falls back to the floor once the slow answers are older than the window', () => {
    const m = new ReplyMargin({ quantile: 0.9, windowMs: 1000, floorMs: 5, refreshMs: 0 });
    for (let i = 0; i < 50; i++) m.observe(i, 30);
    expect(m.marginMs(100)).toBe(30);
    expect(m.marginMs(1100)).toBe(5);
  });

  it('quantile 0 is the fixed margin', () => {
    const m = new ReplyMargin({ quantile: 0, windowMs: 1000, floorMs: 5, refreshMs: 0 });
    for (let i = 0; i < 50; i++) m.observe(i, 30);
    expect(m.marginMs(100)).toBe(5);
  });
});

describe('frontend edge margin', () => {
  const cat = Catalogue.load(SUPERNET_DIR);
  const table = latencyTableFor(loadConfig({ env: {}, overrides: { supernet: SUPERNET_DIR } }), cat);

  /** The worker deadline (ms before the client's) of a call made after 20 answers whose reply path took `replyMs`. */
  const marginAfterSlowReplies = async (quantile: number, replyMs: number, budgetMs: number): Promise<number> => {
    let now = 1_000_000;
    const queue = createMemoryQueue();
    const f = new Frontend({ id: 'fe', queue, catalogue: cat, table, admission: 'off', dispatchOverheadMs: 0, executors: 1, maxBatch: 64, graceMs: 10_000, edgeMarginMs: 5, edgeMarginQuantile: quantile, clock: () => now, version: '1' });
    await f.start();
    const budget = new Map([['slackserve.latency_budget_ms', { kind: 'int64', value: BigInt(budgetMs) } as const]]);
    const request = (id: string): DecodedInfer => decodedInfer(cat, id, budget, now);
    for (let i = 0; i < 20; i++) {
      const call = f.infer(request(`r${i}`), { cancel: NEVER_CANCELLED });
      const [d] = await queue.pull('w', 1, 1000);
      // the batch took 2 ms of queue and 3 of compute; the answer reached the frontend replyMs later
      now += 5 + replyMs;
      await queue.reply({ id: d!.request.id, ok: true, final: true, subnet: table.subnets[0]!.id, exit: null, logits: new Uint8Array(40), classes: [0], queueUs: 2000, computeUs: 3000, deadlineMet: true, downgraded: false, worker: 'w' }, 'fe');
      await call;
    }
    now += 50;
    const req = request('probe');
    const call = f.infer(req, { cancel: NEVER_CANCELLED });
    const [d] = await queue.pull('w', 1, 1000);
    const margin = req.slo.deadlineMs - d!.request.deadlineMs;
    await queue.reply({ id: d!.request.id, ok: true, final: true, subnet: table.subnets[0]!.id, exit: null, logits: new Uint8Array(40), classes: [0], queueUs: 0, computeUs: 1, deadlineMet: true, downgraded: false, worker: 'w' }, 'fe');
    await call;
    await f.stop();
    await queue.close();
    return margin;
  };

  it('plans the worker deadline with the measured reply path, capped at a quarter of the budget', async () => {
    expect(await marginAfterSlowReplies(0.9, 30, 200)).toBeCloseTo(30, 6);
    expect(await marginAfterSlowReplies(0.9, 30, 100)).toBeCloseTo(25, 6); // the cap
    expect(await marginAfterSlowReplies(0.9, 1, 200)).toBeCloseTo(5, 6); // fast replies: edgeMarginMs
    expect(await marginAfterSlowReplies(0, 30, 200)).toBeCloseTo(5, 6); // off: edgeMarginMs alone
  });
});
