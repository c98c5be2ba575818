/**
 * ReplicaWait (src/queue/redis-replica-wait.ts): one WAIT in flight, shared by every write whose
 * reply arrived before it was sent. The fake `send` numbers each WAIT as it starts and resolves
 * with that number, so a caller can tell which WAIT answered it: it must be one that started
 * after the caller asked (a WAIT sent earlier need not cover its write).
 */
import { describe, expect, it } from 'vitest';
import { ReplicaWait } from '../../src/queue/redis-replica-wait.js';
import { rng } from '../helpers.js';

interface Pending {
  readonly n: number;
  resolve(v: number): void;
  reject(e: unknown): void;
}

function harness(): { wait: ReplicaWait; started: () => number; inFlight: Pending[]; maxInFlight: () => number } {
  let started = 0;
  let maxInFlight = 0;
  const inFlight: Pending[] = [];
  const wait = new ReplicaWait(
    () =>
      new Promise<number>((resolve, reject) => {
        started++;
        const p: Pending = {
          n: started,
          resolve: (v) => {
            inFlight.splice(inFlight.indexOf(p), 1);
            resolve(v);
          },
          reject: (e) => {
            inFlight.splice(inFlight.indexOf(p), 1);
            reject(e);
          },
        };
        inFlight.push(p);
        maxInFlight = Math.max(maxInFlight, inFlight.length);
      }),
  );
  return { wait, started: () => started, inFlight, maxInFlight: () => maxInFlight };
}

const flush = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('ReplicaWait', () => {
  it('one WAIT answers every caller that asked before it was sent', async () => {
    const h = harness();
    const answers = Promise.all(Array.from({ length: 100 }, () => h.wait.acked()));
    expect(h.started()).toBe(0); // sent after this turn's callers have asked
    await flush();
    expect(h.started()).toBe(1);
    h.inFlight[0]!.resolve(1);
    expect(await answers).toEqual(Array.from({ length: 100 }, () => 1));
    expect(h.wait.sent).toBe(1);
  });

  it('a caller that asks while a WAIT is in flight waits for the next one; later callers share it', async () => {
    const h = harness();
    const first = h.wait.acked();
    await flush();
    const late = Array.from({ length: 50 }, () => h.wait.acked());
    await flush();
    expect(h.started()).toBe(1); // not a second WAIT while one is in flight
    h.inFlight[0]!.resolve(1);
    expect(await first).toBe(1);
    await flush();
    expect(h.started()).toBe(2);
    h.inFlight[0]!.resolve(0);
    expect(await Promise.all(late)).toEqual(Array.from({ length: 50 }, () => 0));
    await flush();
    expect(h.started()).toBe(2); // nobody left waiting: no WAIT sent for nothing
  });

  it('a failed WAIT fails its own callers only, and the next callers get a WAIT of their own', async () => {
    const h = harness();
    const a = h.wait.acked();
    const b = h.wait.acked();
    await flush();
    expect(h.started()).toBe(1);
    h.inFlight[0]!.reject(new Error('connection lost'));
    await expect(a).rejects.toThrow('connection lost');
    await expect(b).rejects.toThrow('connection lost');
    const c = h.wait.acked();
    await flush();
    expect(h.started()).toBe(2);
    h.inFlight[0]!.resolve(2);
    expect(await c).toBe(2);
  });

  it('a send that throws at once rejects its callers, and the next WAIT still goes out', async () => {
    let calls = 0;
    const wait = new ReplicaWait(() => {
      calls++;
      if (calls === 1) throw new Error('closed');
      return Promise.resolve(1);
    });
    await expect(wait.acked()).rejects.toThrow('closed');
    expect(await wait.acked()).toBe(1);
  });

  it('seeded interleavings: never two WAITs at once, every caller answered by a WAIT started after it asked', async () => {
    for (let seed = 1; seed <= 20; seed++) {
      const r = rng(seed);
      const h = harness();
      const checks: Promise<void>[] = [];
      let callers = 0;
      for (let step = 0; step < 200; step++) {
        const x = r();
        if (x < 0.5) {
          // a write's reply arrived: ask
          const startedBefore = h.started();
          callers++;
          checks.push(
            h.wait.acked().then(
              (n) => {
                expect(n).toBeGreaterThan(startedBefore);
              },
              (e: unknown) => expect(String(e)).toContain('lost'),
            ),
          );
        } else if (x < 0.85 && h.inFlight.length > 0) {
          h.inFlight[0]!.resolve(h.inFlight[0]!.n); // answers with its own number
        } else if (h.inFlight.length > 0) {
          h.inFlight[0]!.reject(new Error('lost'));
        }
        if (r() < 0.5) await flush();
      }
      while (h.inFlight.length > 0 || checks.length > 0) {
        for (const p of [...h.inFlight]) p.resolve(p.n);
        await flush();
        if (h.inFlight.length === 0) break;
      }
      await Promise.all(checks);
      expect(h.maxInFlight()).toBe(1);
      // shared: fewer WAITs than callers (about one per burst of asks, never more than callers)
      expect(h.started()).toBeLessThanOrEqual(callers);
    }
  });
});
