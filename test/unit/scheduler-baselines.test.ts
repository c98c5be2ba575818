import { describe, expect, it } from 'vitest';
import { admit } from '../../src/scheduler/admission.js';
import { EdfQueue } from '../../src/scheduler/edf-queue.js';
import { aimdStep, AIMD_DEFAULTS, clipperPolicy, clockworkPolicy, staticPolicy } from '../../src/scheduler/fixed-subnet.js';
import { infaasPolicy } from '../../src/scheduler/infaas.js';
import { buildPolicy } from '../../src/scheduler/registry.js';
import { SlackserveError } from '../../src/errors.js';
import { ctx, req, table } from '../sched-fixtures.js';

const T = table('p50');
const slow = T.subnet('slow');

describe('EDF queue', () => {
  it('orders by priority level, then deadline, then arrival, and peeking does not remove', () => {
    const q = new EdfQueue();
    const a = req(30, { arrival: 1 });
    const b = req(10, { arrival: 2 });
    const c = req(10, { arrival: 0 });
    const urgent = req(99, { priority: 1 });
    const low = req(1, { priority: 2 });
    for (const r of [a, b, c, urgent, low]) q.push(r);
    // priority 0 means the default level (1), so it ties with 1 and deadline decides
    expect(q.earliest(10).map((r) => r.key)).toEqual([c.key, b.key, a.key, urgent.key, low.key]);
    expect(q.length).toBe(5);
    q.take([b, a]); // not a prefix
    expect(q.earliest(10).map((r) => r.key)).toEqual([c.key, urgent.key, low.key]);
    expect(q.cancel(urgent.key)).toBe(true);
    expect(q.cancel(urgent.key)).toBe(false);
    expect(q.earliest(2).map((r) => r.key)).toEqual([c.key, low.key]);
    expect(q.length).toBe(2);
    expect(q.drain()).toHaveLength(2);
    expect(q.length).toBe(0);
  });

  it('stays ordered under random pushes and takes', () => {
    const q = new EdfQueue();
    const live: ReturnType<typeof req>[] = [];
    let seed = 3;
    const rnd = () => ((seed = (seed * 16807) % 2147483647) / 2147483647);
    for (let i = 0; i < 2000; i++) {
      const r = req(rnd() * 1000, { arrival: i });
      q.push(r);
      live.push(r);
      if (i % 3 === 0) {
        const head = q.earliest(1 + Math.floor(rnd() * 5));
        const pick = head.filter(() => rnd() < 0.5);
        q.take(pick);
        for (const p of pick) live.splice(live.indexOf(p), 1);
      }
    }
    const expected = [...live].sort((x, y) => x.deadline - y.deadline || x.arrival - y.arrival).map((r) => r.key);
    expect(q.earliest(live.length).map((r) => r.key)).toEqual(expected);
    expect(q.length).toBe(live.length);
  });
});

describe('fixed-subnet baselines', () => {
  it('static runs the largest batch on its subnet and drops only expired requests', () => {
    const p = staticPolicy(T, slow);
    const rs = [req(5), ...Array.from({ length: 70 }, () => req(10.1))];
    const d = p.decide(ctx(10, rs), null).decision;
    expect(d.drops.map((x) => x.reason)).toEqual(['expired']);
    expect(d.dispatch?.subnet).toBe('slow');
    expect(d.dispatch?.requests).toHaveLength(63); // the rest of the 64-request window; hopeless ones are served late
  });

  it('Clipper AIMD grows the cap additively within the SLO and cuts it by 10% on a violation', () => {
    const o = AIMD_DEFAULTS;
    const ok = { subnet: 'slow', latencyMs: 5, tightestSloMs: 10, missed: 0 };
    expect(aimdStep(4, { ...ok, batch: 4 }, 64, o)).toBe(5);
    expect(aimdStep(4, { ...ok, batch: 2 }, 64, o)).toBe(4); // a short queue says nothing about bigger batches
    expect(aimdStep(64, { ...ok, batch: 64 }, 64, o)).toBe(64);
    expect(aimdStep(10, { ...ok, batch: 10, latencyMs: 11 }, 64, o)).toBeCloseTo(9, 9);
    expect(aimdStep(1, { ...ok, batch: 1, latencyMs: 11 }, 64, o)).toBe(1);
    const p = clipperPolicy(T, slow, { initialCap: 3 });
    const d = p.decide(ctx(0, Array.from({ length: 10 }, () => req(100))), p.init()).decision;
    expect(d.dispatch?.requests).toHaveLength(3);
  });

  it('Clockwork drops requests that cannot finish even alone, then batches to meet the earliest deadline', () => {
    const p = clockworkPolicy(T, slow, 0);
    const hopeless = req(12); // slow alone takes 2.5 ms; now = 10
    const rs = [hopeless, ...Array.from({ length: 20 }, () => req(14.1))];
    const d = p.decide(ctx(10, rs), null).decision;
    expect(d.drops.map((x) => [x.request.key, x.reason])).toEqual([[hopeless.key, 'infeasible']]);
    // slack 4.1 ms on slow (2 + 0.5 b): b = 4
    expect(d.dispatch?.requests).toHaveLength(4);
  });
});

describe('INFaaS baseline', () => {
  it('picks the most accurate variant that fits with its load time, and prefers what is loaded', () => {
    const p = infaasPolicy(T, 0);
    // slack 10 ms, batch 1: slow needs 12 ms load + 2.5 -> too slow unless loaded; mid 8 + 1.2 fits
    let d = p.decide(ctx(0, [req(10)]), null).decision;
    expect(d.dispatch?.subnet).toBe('mid');
    expect(d.dispatch?.loadMs).toBe(8);
    d = p.decide(ctx(0, [req(10)], ['slow']), null).decision;
    expect(d.dispatch?.subnet).toBe('slow');
    expect(d.dispatch?.loadMs).toBe(0);
    // nothing fits: the fastest resident variant serves the head alone
    d = p.decide(ctx(0, [req(0.1)], ['mid']), null).decision;
    expect(d.dispatch?.subnet).toBe('mid');
    expect(d.dispatch?.requests).toHaveLength(1);
  });
});

describe('admission', () => {
  const base = { now: 0, deadline: 50, minAccuracy: 0, queuedAhead: 0, workers: 1, soonestFree: 0, dispatchOverheadMs: 0 };
  it('accepts what can make it and rejects what cannot, given the queue ahead', () => {
    expect(admit(T, 'reject', base)).toBe('accept');
    // fast drains 64 per 3.7 ms: 10,000 ahead take ~578 ms
    expect(admit(T, 'reject', { ...base, queuedAhead: 10_000 })).toBe('reject');
    expect(admit(T, 'off', { ...base, queuedAhead: 10_000 })).toBe('accept');
    expect(admit(T, 'reject', { ...base, queuedAhead: 10_000, workers: 20 })).toBe('accept');
    expect(admit(T, 'reject', { ...base, soonestFree: 60 })).toBe('reject');
  });

  it('downgrades a request whose accuracy floor is what makes it miss', () => {
    // only slow meets 0.92: it drains 64 per 34 ms, so 200 ahead take ~106 ms; fast takes ~12 ms
    const a = { ...base, minAccuracy: 0.92, queuedAhead: 200 };
    expect(admit(T, 'reject', a)).toBe('reject');
    expect(admit(T, 'downgrade', a)).toBe('downgrade');
    expect(admit(T, 'downgrade', { ...a, minAccuracy: 0.99, queuedAhead: 0 })).toBe('downgrade');
    expect(admit(T, 'downgrade', { ...a, deadline: 1 })).toBe('reject');
  });
});

describe('policy registry', () => {
  it('builds every named policy and rejects unknown names with POLICY_UNKNOWN', () => {
    for (const n of ['slackfit', 'infaas', 'static-smallest', 'static-largest', 'clipper:mid', 'clockwork-largest'])
      expect(buildPolicy(n, T).name).toBe(n);
    expect(buildPolicy('static-smallest', T).decide(ctx(0, [req(9)]), null).decision.dispatch?.subnet).toBe('fast');
    for (const bad of ['fifo', 'static', 'slackfit:x', 'static:nope']) {
      const e = (() => {
        try {
          buildPolicy(bad, T);
        } catch (err) {
          return err;
        }
        return null;
      })();
      expect(e).toBeInstanceOf(SlackserveError);
      expect((e as SlackserveError).code).toMatch(/POLICY_UNKNOWN|SUBNET_UNKNOWN/);
    }
  });
});
