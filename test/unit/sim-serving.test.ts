import { describe, expect, it } from 'vitest';
import { buildPolicy } from '../../src/scheduler/registry.js';
import type { ServingModel } from '../../src/sim/serving-model.js';
import { simulate, type SimArrivals } from '../../src/sim/simulator.js';
import { summarize } from '../../src/sim/summary.js';
import { table } from '../sched-fixtures.js';

const T = table('p50');

function poisson(n: number, ratePerMs: number, seed: number, slo: number): SimArrivals {
  let s = seed;
  let t = 0;
  const times = Array.from({ length: n }, () => {
    s = (s * 16807) % 2147483647;
    t += -Math.log(s / 2147483647) / ratePerMs;
    return t;
  });
  return { t_ms: Float64Array.from(times), slo_ms: new Float64Array(n).fill(slo), min_accuracy: new Float64Array(n).fill(NaN) };
}

const quiet: ServingModel = { format: 'slackserve-serving/1', cores: 4, edge_ms_per_request: 0, edge_ms_per_image: 0, dispatch_ms: 0, reply_ms: 0, client_ms_per_request: 0 };

const run = (a: SimArrivals, policy: string, serving: ServingModel, extra: Parameters<typeof buildPolicy>[2] = {}, edgeMarginMs = 0) =>
  summarize(simulate(a, T, buildPolicy(policy, T, extra), { workers: 2, seed: 5, noise: true, admission: 'off', dispatchOverheadMs: 0, serving, edgeMarginMs }));

describe('simulator with the serving model', () => {
  it('with a core to spare per batch and no edge cost, matches the plain simulator', () => {
    const a = poisson(3000, 0.5, 3, 20);
    const plain = summarize(simulate(a, T, buildPolicy('static-largest', T), { workers: 2, seed: 5, noise: true, admission: 'off', dispatchOverheadMs: 0 }));
    const modelled = run(a, 'static-largest', quiet);
    expect(modelled.slo_attainment).toBeCloseTo(plain.slo_attainment, 6);
    expect(modelled.latency_p50_ms).toBeCloseTo(plain.latency_p50_ms as number, 6);
  });

  it('processor sharing: two batches on one core take twice as long as one', () => {
    // two requests at t = 0, static:slow at batch 1 = 2.5 ms each; on one core they share it
    const a: SimArrivals = { t_ms: Float64Array.from([0, 0]), slo_ms: Float64Array.from([100, 100]), min_accuracy: Float64Array.from([NaN, NaN]) };
    const one = { ...quiet, cores: 1 };
    const r = simulate(a, T, buildPolicy('static:slow', T), { workers: 2, noise: false, admission: 'off', dispatchOverheadMs: 0, serving: one });
    expect(r.finish[0]).toBeCloseTo(5, 6);
    expect(r.finish[1]).toBeCloseTo(5, 6);
    // the edge is a FIFO server: each request enters the queue after its edge cost
    const edge = simulate(a, T, buildPolicy('static:slow', T), { workers: 2, noise: false, admission: 'off', dispatchOverheadMs: 0, serving: { ...quiet, edge_ms_per_request: 1 } });
    expect(edge.finish[0]).toBeCloseTo(1 + 2.5, 6);
    expect(edge.finish[1]).toBeCloseTo(2 + 2.5, 6);
  });

  it('SlackFit holds when batches slow 3x with two at once (the live failure mode); planning with the profile does not', () => {
    // cores = 2/3: a batch alone runs at 2/3 speed, two at once at 1/3 each (3x slower)
    const contended: ServingModel = { ...quiet, cores: 2 / 3 };
    const a = poisson(6000, 0.6, 11, 25);
    const drain = run(a, 'slackfit', contended);
    const blind = run(a, 'slackfit', contended, { slackfit: { rule: 'paper', calibrate: false } });
    expect(drain.slo_attainment).toBeGreaterThan(0.97);
    expect(blind.slo_attainment).toBeLessThan(drain.slo_attainment - 0.05);
  });

  it('SlackFit holds when the reply path costs more than the edge margin covers', () => {
    const a = poisson(6000, 0.4, 13, 12);
    const slowReply: ServingModel = { ...quiet, reply_ms: 5 };
    expect(run(a, 'slackfit', slowReply, {}, 1).slo_attainment).toBeGreaterThan(0.97);
    // the reply path is charged to the client's deadline: one longer than the SLO leaves nothing in time
    expect(run(a, 'slackfit', { ...quiet, reply_ms: 12.5 }, {}, 1).slo_attainment).toBe(0);
  });
});
