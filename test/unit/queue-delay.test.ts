/**
 * The queue delay (Triton's max_queue_delay_microseconds): a batch that holds every queued request
 * and fewer than the preferred images waits for more, up to the delay after its oldest request,
 * never when waiting would eat the deadline's room. Pure rule on a simulated clock, the simulator,
 * and the live worker loop on real timers.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryBroker, MemoryQueue } from '../../src/queue/memory-queue.js';
import type { InferenceReply } from '../../src/queue/types.js';
import { delayDecision } from '../../src/scheduler/queue-delay.js';
import { buildPolicy } from '../../src/scheduler/registry.js';
import type { Decision, QueuedRequest } from '../../src/scheduler/types.js';
import { simulate, type SimArrivals } from '../../src/sim/simulator.js';
import { summarize } from '../../src/sim/summary.js';
import { epochMs, type WorkerLoop } from '../../src/worker/worker-loop.js';
import { ctx, req, table } from '../sched-fixtures.js';
import { testLoop } from '../worker-fixture.js';

const T = table('p50');
const O = { delayMs: 4, preferredImages: 8 };

function run(requests: readonly QueuedRequest[], expectedMs = 1): Decision {
  return { dispatch: { subnet: 'fast', requests, expectedMs, loadMs: 0 }, drops: [] };
}

describe('queue delay: the rule', () => {
  it('holds a short batch until the oldest request is delayMs old', () => {
    const rs = [req(100, { arrival: 10 }), req(100, { arrival: 11 })];
    const d = delayDecision(run(rs), 2, 12, O);
    expect(d.dispatch).toBeNull();
    expect(d.retryAt).toBe(14);
    // at the retry time it runs
    expect(delayDecision(run(rs), 2, 14, O).dispatch?.requests).toHaveLength(2);
  });

  it('runs at once when the batch reaches the preferred images', () => {
    const rs = [req(100, { arrival: 10, size: 5 }), req(100, { arrival: 11, size: 3 })];
    expect(delayDecision(run(rs), 2, 11, O).dispatch).not.toBeNull();
  });

  it('never holds a batch the policy cut short (requests left in the queue)', () => {
    const rs = [req(100, { arrival: 10 })];
    expect(delayDecision(run(rs), 3, 10, O).dispatch).not.toBeNull();
  });

  it('never holds when waiting leaves the earliest deadline less than expectedMs + delayMs of room', () => {
    // retryAt 14; room after it: 20 - 14 = 6 < 3 + 4
    expect(delayDecision(run([req(20, { arrival: 10 })], 3), 1, 10, O).dispatch).not.toBeNull();
    // room 22 - 14 = 8 >= 7: holds
    expect(delayDecision(run([req(22, { arrival: 10 })], 3), 1, 10, O).retryAt).toBe(14);
  });

  it('is off at delay 0 and leaves the inner policy untouched', () => {
    const rs = [req(100, { arrival: 10 })];
    const d = run(rs);
    expect(delayDecision(d, 1, 10, { delayMs: 0, preferredImages: 8 })).toBe(d);
    expect(buildPolicy('static:fast', T, { queueDelay: { delayMs: 0, preferredImages: 8 } }).decide(ctx(10, rs), null).decision.dispatch).not.toBeNull();
  });

  it('wraps any policy: static and slackfit both hold a lone request', () => {
    for (const spec of ['static:fast', 'slackfit']) {
      const p = buildPolicy(spec, T, { queueDelay: O });
      const r = p.decide(ctx(10, [req(200, { arrival: 10 })]), p.init());
      expect(r.decision.dispatch, spec).toBeNull();
      expect(r.decision.retryAt, spec).toBe(14);
    }
  });
});

function arrivals(times: number[], slo: number): SimArrivals {
  return { t_ms: Float64Array.from(times), slo_ms: new Float64Array(times.length).fill(slo), min_accuracy: new Float64Array(times.length).fill(NaN) };
}

describe('queue delay: the simulator', () => {
  it('batches requests 1 ms apart and delays none by more than the delay plus the batch', () => {
    const times = Array.from({ length: 400 }, (_, i) => i); // 1,000 req/s
    const opts = { workers: 2, noise: false, dispatchOverheadMs: 0, admission: 'off' as const };
    const off = simulate(arrivals(times, 100), T, buildPolicy('static:fast', T), opts);
    const on = simulate(arrivals(times, 100), T, buildPolicy('static:fast', T, { queueDelay: O }), opts);
    expect(off.batches).toBe(400); // fast runs a lone request in 0.55 ms: never more than one queued
    expect(on.batches).toBeLessThanOrEqual(100); // ~4-5 per batch
    expect(summarize(on).served).toBe(400);
    for (let i = 0; i < 400; i++) {
      const wait = (on.finish[i] as number) - (times[i] as number);
      expect(wait).toBeLessThanOrEqual(4 + 0.5 + 0.05 * 8 + 1e-9);
    }
  });

  it('runs a lone request after the delay even when nothing else arrives', () => {
    const on = simulate(arrivals([0], 100), T, buildPolicy('static:fast', T, { queueDelay: O }), { workers: 1, noise: false, dispatchOverheadMs: 0, admission: 'off' });
    expect(Array.from(on.finish)).toEqual([4 + 0.55]);
  });
});

const loops: WorkerLoop[] = [];
afterEach(async () => {
  await Promise.all(loops.splice(0).map((l) => l.stop()));
});

describe('queue delay: the worker loop', () => {
  async function serve(delayMs: number, budgetMs: number, gapsMs: number[]): Promise<{ batches: number[]; latency: number[] }> {
    const broker = new MemoryBroker();
    const front = broker.connect();
    const back = new MemoryQueue(broker);
    const batches: number[] = [];
    const loop = testLoop({
      id: 'w-delay',
      queue: back,
      executor: {
        run: async (images) => {
          const n = images.length / 4;
          batches.push(n);
          return { logits: new Float32Array(n * 10), ramps: [], computeMs: 0, batch: n, thread: 0 };
        },
      },
      policy: buildPolicy('static:fast', T, { queueDelay: { delayMs, preferredImages: 64 } }),
      table: T,
      maxBatch: 64,
    });
    loops.push(loop);
    loop.start();
    const sent = new Map<string, number>();
    const latency: number[] = [];
    const done = new Promise<void>((resolve) => {
      void front.subscribeReplies('f', (r: InferenceReply) => {
        latency.push(epochMs() - (sent.get(r.id) as number));
        if (latency.length === gapsMs.length) resolve();
      });
    });
    for (const [i, gap] of gapsMs.entries()) {
      await new Promise((r) => setTimeout(r, gap));
      const now = epochMs();
      sent.set(`r${i}`, now);
      await front.enqueue({ id: `r${i}`, frontend: 'f', model: 'm', arrivalMs: now, deadlineMs: now + budgetMs, minAccuracy: 0, priority: 0, sheddable: true, sloClass: '', downgraded: false, shape: [1, 4], data: new Uint8Array(16) });
    }
    await done;
    return { batches, latency };
  }

  it('gathers requests that arrive within the delay into one batch, and answers each within delay + slack', async () => {
    const { batches, latency } = await serve(60, 2_000, [0, 5, 5, 5]);
    expect(batches.reduce((a, b) => a + b, 0)).toBe(4);
    expect(batches.length).toBeLessThanOrEqual(2); // 4 requests within 15 ms, a 60 ms delay: one batch (two if a timer runs late)
    expect(Math.max(...latency)).toBeLessThan(60 + 500);
    expect(Math.max(...latency)).toBeGreaterThanOrEqual(40); // the first one waited
  });

  it('runs at once when the budget leaves no room for the delay', async () => {
    const { batches, latency } = await serve(60, 100, [0, 30]);
    expect(batches).toEqual([1, 1]);
    expect(Math.max(...latency)).toBeLessThan(60);
  });
});
