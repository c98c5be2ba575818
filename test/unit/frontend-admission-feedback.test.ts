/**
 * The frontend's admission learns from an admitted call that missed behind a backlog: the same
 * backlog that was admitted before the miss is refused after it (the refusal says by how much
 * admission corrects itself), and admitted again once the correction has decayed. Real in-process
 * queue, a hand-driven worker side and an injected clock.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { NEVER_CANCELLED } from '../../src/api/cancel.js';
import { parseSlo } from '../../src/api/slo.js';
import { loadConfig } from '../../src/config.js';
import { Metrics } from '../../src/metrics/metrics.js';
import { createMemoryQueue } from '../../src/queue/memory-queue.js';
import { Frontend } from '../../src/server/frontend.js';
import { latencyTableFor } from '../../src/server/serve.js';
import { Catalogue } from '../../src/supernet/catalogue.js';
import { SUPERNET_DIR } from '../helpers.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

describe('frontend admission feedback', () => {
  it('refuses after a miss behind a backlog what it admitted before, until the correction decays', async () => {
    const cat = Catalogue.load(SUPERNET_DIR);
    const table = latencyTableFor(loadConfig({ env: {}, overrides: { supernet: SUPERNET_DIR } }), cat);
    let now = 1_000_000;
    const queue = createMemoryQueue();
    const metrics = new Metrics('frontend');
    const halfLifeMs = 1_000;
    const f = new Frontend({ id: 'fe', queue, catalogue: cat, table, admission: 'reject', admissionMissHalfLifeMs: halfLifeMs, dispatchOverheadMs: 0, executors: 2, maxBatch: 64, graceMs: 60_000, edgeMarginMs: 5, clock: () => now, version: '1', metrics });
    await f.start();
    cleanups.push(async () => {
      await f.stop();
      await queue.close();
    });
    const images = 16;
    const bytes = new Uint8Array(images * 784 * 4);
    const budgetMs = 40;
    const budget = new Map([['slackserve.latency_budget_ms', { kind: 'int64', value: BigInt(budgetMs) } as const]]);
    let seq = 0;
    const call = (): Promise<string> =>
      f
        .infer(
          {
            id: `r${seq++}`,
            model: cat.manifest.name,
            version: '',
            tensor: { bytes, data: new Float32Array(bytes.buffer), batch: images, shape: [images, 1, 28, 28] },
            slo: parseSlo(budget, { now, defaultBudgetMs: 50 }),
            outputs: ['logits', 'class'],
            wantsRaw: true,
            protocol: 'grpc',
            params: budget,
          },
          { cancel: NEVER_CANCELLED },
        )
        .then(
          () => 'answered',
          (e: Error) => `refused: ${e.message}`,
        );
    const settled = (p: Promise<string>): Promise<string> => Promise.race([p, new Promise<string>((r) => setTimeout(() => r('pending'), 30))]);

    // a backlog whose predicted drain (the fastest subnet at the largest batch, two executors) is a
    // few ms: well inside the 35 ms the worker has, and far outside it at 8x. Two executors: the
    // frontend's drain-rate windows need two answers, so the single answer below measures no rate
    const fastest = table.fastest(1, 0)!;
    const msPerImage = table.ms(fastest.index, table.maxBatch) / table.maxBatch / 2;
    const ahead = Math.max(2, Math.ceil(6 / (images * msPerImage)));
    expect(ahead * images * msPerImage * 8).toBeGreaterThan(budgetMs);
    const held: Promise<string>[] = [];
    for (let i = 0; i < ahead; i++) held.push(call());
    const before = call();
    expect(await settled(before)).toBe('pending'); // admitted behind the backlog
    held.push(before);

    // the call admitted last (the most queue ahead of it) is answered 100 ms later: a miss
    const pulled = await queue.pull('w', ahead + 1, 1000);
    const last = pulled[pulled.length - 1]!;
    now += 100;
    await queue.reply({ id: last.request.id, ok: true, final: true, subnet: fastest.id, exit: null, logits: new Uint8Array(images * 40), classes: Array(images).fill(0), queueUs: 0, computeUs: 1, deadlineMet: false, downgraded: false, worker: 'w' }, 'fe');
    expect(await before).toBe('answered');

    // the same backlog (ahead calls still held) now refuses a call, saying why
    const after = await settled(call());
    expect(after).toMatch(/^refused: .*rejected at admission/);
    expect(after).toMatch(/drained \d+(\.\d)?x slower than predicted/);
    expect(await metrics.text()).toMatch(/slackserve_admission_corrections\{[^}]*\} 1\b/);

    // twelve half-lives later the correction is gone: admitted again
    now += 12 * halfLifeMs;
    expect(await settled(call())).toBe('pending');
    void held;
  });
});
