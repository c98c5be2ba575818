/**
 * A newly promoted master that freezes (as a loaded machine's can): the sentinels fail it over
 * again, and when it wakes it is still a master, with no replica, until they turn it into one
 * (~10 s: they look at it every 10 s). Until then the new master has no replica either, so every
 * request write's Redis WAIT (redisWaitReplicas, 1 with sentinels) times out. Sent once per request
 * on the command connection, those WAITs queued one timeout after another and held the enqueues
 * behind them: for 7-10 s no request reached the stream before its deadline (the "worker stall"
 * that failed redis-sentinel.test.ts in CI). Now one WAIT at a time answers for all the writes
 * before it, on the writes' own connection (src/queue/redis-replica-wait.ts): each call ends within
 * a fraction of a second, answered, or refused UNAVAILABLE because no replica holds it.
 */
import * as grpc from '@grpc/grpc-js';
import { afterAll, describe, expect, it } from 'vitest';
import { OipClient } from '../../src/client/oip-client.js';
import { Catalogue } from '../../src/supernet/catalogue.js';
import { type Proc, sleep, startFrontend, startWorker } from '../cluster-procs.js';
import { loadSample, SUPERNET_DIR } from '../helpers.js';
import { DRIVER_TEXT, HAS_SENTINEL, inferOutcome, masterPort, type Outcome, PW, SENTINEL_PW, startSentinelCluster, stopSentinelTest, waitFor } from '../sentinel-fixture.js';

if (!HAS_SENTINEL) console.warn('redis-sentinel-freeze.test.ts: SKIPPED: redis-sentinel (or redis-server) is not installed');

const prefix = `slackserve-freeze-${process.pid}`;
const cat = Catalogue.load(SUPERNET_DIR);
const { x } = loadSample(cat);

const procs: Proc[] = [];
const cleanups: (() => void)[] = [];
afterAll(() => stopSentinelTest(procs, cleanups));

interface Call {
  readonly sentMs: number;
  endMs?: number;
  outcome?: Outcome;
}

describe.skipIf(!HAS_SENTINEL)('Redis Sentinel: a frozen new master', () => {
  it('after a frozen master is failed over, every call ends within a second (answered, or refused because no replica holds it)', async () => {
    const cluster = await startSentinelCluster(procs, cleanups, 1_500);
    const { sentinels } = cluster;
    const env = cluster.env(prefix);
    const worker = await startWorker([], env);
    procs.push(worker);
    const fe = await startFrontend(['--host', '127.0.0.1'], env);
    procs.push(fe);
    const client = new OipClient(`127.0.0.1:${fe.grpcPort}`);
    cleanups.push(() => client.close());
    await client.waitReady(15_000);

    // steady ~100 req/s, 3 s budgets
    const calls: Call[] = [];
    let sending = true;
    const load = (async () => {
      const t0 = Date.now();
      for (let i = 0; sending; i++) {
        const c: Call = { sentMs: Date.now() };
        calls.push(c);
        void inferOutcome(client, {
          model: cat.manifest.name,
          images: x.slice((i % 64) * 784, ((i % 64) + 1) * 784),
          shape: [1, 1, 28, 28],
          inputName: cat.manifest.input.name,
          params: { 'slackserve.latency_budget_ms': 3_000 },
        }).then((o) => {
          c.outcome = o;
          c.endMs = Date.now();
        });
        await sleep(Math.max(0, t0 + (i + 1) * 10 - Date.now()));
      }
    })();

    // 1. the master crashes: the sentinels promote B (or C)
    await sleep(2_000);
    const promoted = await cluster.killFirstMaster();
    // 2. the new master freezes for 4 s (SIGSTOP: its connections stay open) and is failed over
    await sleep(500);
    const frozen = cluster.server(promoted)!;
    frozen.child.kill('SIGSTOP');
    await waitFor(
      'the sentinels to fail the frozen master over',
      async () => ((await masterPort(sentinels[0]!)) === promoted ? 'not yet' : true),
      20_000,
    );
    await sleep(Math.max(0, 4_000 - 1_500));
    frozen.child.kill('SIGCONT');
    const wokeMs = Date.now();
    // 3. it wakes still a master; the new one has no replica until the sentinels reconfigure it
    await sleep(8_000);
    sending = false;
    await load;
    await waitFor('every call to end', async () => calls.every((c) => c.outcome !== undefined), 15_000);

    // The window where the stall was: from 2 s after the wake (the clients have moved to the new
    // master) for 6 s, while it has no replica.
    const window = calls.filter((c) => c.sentMs >= wokeMs + 2_000 && c.sentMs < wokeMs + 8_000);
    const prompt = window.filter((c) => c.endMs! - c.sentMs < 1_000 && (c.outcome!.ok || c.outcome!.code === grpc.status.UNAVAILABLE));
    const kinds: Record<string, number> = {};
    for (const c of window) {
      const k = c.outcome!.ok ? 'ok' : `${grpc.status[c.outcome!.code]} ${c.outcome!.details.replace(/[\d.]+ ms/g, 'N ms')}`;
      kinds[k] = (kinds[k] ?? 0) + 1;
    }
    const lostCalls = calls.filter((c) => !c.outcome!.ok && /lost the request|no worker answered/.test(c.outcome!.details));
    const lost = lostCalls.length;
    const lostKinds: Record<string, number> = {};
    for (const c of lostCalls) {
      const k = `${c.outcome!.ok ? '' : c.outcome!.details.slice(0, 80).replace(/\d+/g, 'N')} (sent ${Math.floor((c.sentMs - wokeMs) / 1_000)} s after the wake)`;
      lostKinds[k] = (lostKinds[k] ?? 0) + 1;
    }
    console.log(`sentinel freeze: ${calls.length} calls, ${lost} reported lost ${JSON.stringify(lostKinds)}; after the wake ${window.length}, ${prompt.length} ended within 1 s: ${JSON.stringify(kinds)}`);
    expect(window.length).toBeGreaterThan(300);
    // before one WAIT at a time: none of them (each waited in the frontend past its deadline)
    expect(prompt.length).toBeGreaterThan(window.length * 0.9);
    for (const c of calls) {
      if (c.outcome!.ok) continue;
      expect(c.outcome!.details).not.toMatch(DRIVER_TEXT);
      expect(c.outcome!.details).not.toContain(PW);
    }
    expect(fe.alive()).toBe(true);
    expect(worker.alive()).toBe(true);
    for (const out of [fe.output(), worker.output()]) expect(out).not.toContain(SENTINEL_PW);
  }, 120_000);
});
