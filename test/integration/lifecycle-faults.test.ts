/**
 * Production faults with real processes and a private Redis (its own redis-server on a free
 * loopback port, no persistence, a password): a frontend started while Redis is down, readiness
 * (Redis down, no worker, a worker), a Redis restart that loses everything (`shutdown nosave`)
 * mid-load, and requests the restart lost. Clients see clean statuses only (never the driver's
 * text or the password), every call ends within its bound, and the logs say each state change once.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { afterAll, describe, expect, it } from 'vitest';
import { OipClient } from '../../src/client/oip-client.js';
import { Catalogue } from '../../src/supernet/catalogue.js';
import { loadSample, SUPERNET_DIR } from '../helpers.js';
import { type ServeProcess, spawnServe } from '../serve-process.js';

const PASSWORD = 'lifecycle-secret-pw';
const prefix = `slackserve-life-${process.pid}-${Date.now()}`;
const cat = Catalogue.load(SUPERNET_DIR);
const { x } = loadSample(cat);
const MODEL = cat.manifest.name;
const INPUT = cat.manifest.input.name;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
/** What a client must never see: ioredis's own words, socket errors, the password. */
const DRIVER_TEXT = /max retries|Reached the|ioredis|ECONNREFUSED|Connection is closed|Stream isn't writeable|NOAUTH|redis: /i;

function freePort(): Promise<number> {
  return new Promise((res) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => res(port));
    });
  });
}

let redisPort = 0;
let redis: ChildProcess | undefined;
const url = (): string => `redis://:${PASSWORD}@127.0.0.1:${redisPort}`;

async function startRedis(): Promise<void> {
  const child = spawn('redis-server', ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--requirepass', PASSWORD], { stdio: ['ignore', 'pipe', 'pipe'] });
  redis = child;
  await new Promise<void>((resolve, reject) => {
    let out = '';
    const t = setTimeout(() => reject(new Error(`redis-server did not start: ${out}`)), 10_000);
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('Ready to accept connections')) {
        clearTimeout(t);
        resolve();
      }
    });
    child.once('exit', (code) => {
      clearTimeout(t);
      reject(new Error(`redis-server exited (${code}): ${out}`));
    });
  });
}

/** `redis-cli shutdown nosave`: Redis stops and forgets everything. */
async function shutdownRedis(): Promise<void> {
  const r = redis;
  if (!r || r.exitCode !== null) return;
  const exited = new Promise<void>((res) => r.once('exit', () => res()));
  spawnSync('redis-cli', ['-p', String(redisPort), '-a', PASSWORD, '--no-auth-warning', 'shutdown', 'nosave'], { timeout: 5_000 });
  await Promise.race([exited, sleep(5_000)]);
  if (r.exitCode === null) r.kill('SIGKILL');
}

const workers: ChildProcess[] = [];
function startWorker(): { child: ChildProcess; out: () => string; started: Promise<void> } {
  let out = '';
  const child = spawn(process.execPath, ['bin/slackserve.js', 'worker', '--redis', url(), '--metrics-port', '0', '--host', '127.0.0.1', '--threads', '1', '--supernet', SUPERNET_DIR], {
    env: { ...process.env, SLACKSERVE_QUEUE_PREFIX: prefix },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  workers.push(child);
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const started = new Promise<void>((resolve, reject) => {
    const t = setInterval(() => {
      if (out.includes('slackserve worker:')) {
        clearInterval(t);
        resolve();
      }
    }, 20);
    child.once('exit', (code) => {
      clearInterval(t);
      reject(new Error(`worker exited (${code}): ${out}`));
    });
  });
  return { child, out: () => out, started };
}

let frontend: ServeProcess | undefined;

afterAll(async () => {
  for (const w of workers) {
    w.kill('SIGCONT');
    w.kill('SIGKILL');
  }
  await frontend?.stop();
  await shutdownRedis();
});

const readyStatus = async (port: number): Promise<number> => (await fetch(`http://127.0.0.1:${port}/v2/health/ready`)).status;
async function waitFor(what: string, cond: () => Promise<boolean> | boolean, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await cond()) return;
    await sleep(50);
  }
  throw new Error(`timed out waiting for ${what}`);
}

type Outcome = { ok: true } | { ok: false; code: number; details: string };

describe('faults with a private Redis', () => {
  it('starts with Redis down, is ready only with Redis and a worker, survives a restart that loses everything', async () => {
    redisPort = await freePort();
    // 1. Redis down: the frontend starts anyway, says which address failed, keeps retrying, is not ready
    frontend = await spawnServe('frontend', ['--redis', url()], { SLACKSERVE_QUEUE_PREFIX: prefix });
    const fe = frontend;
    const client = new OipClient(`127.0.0.1:${fe.grpcPort}`);
    const send = (i: number, budgetMs = 3_000): Promise<Outcome> =>
      client.infer({ model: MODEL, images: x.slice((i % 64) * 784, ((i % 64) + 1) * 784), shape: [1, 1, 28, 28], inputName: INPUT, params: { 'slackserve.latency_budget_ms': budgetMs } }).then(
        () => ({ ok: true }) as const,
        (e: grpc.ServiceError) => ({ ok: false, code: e.code, details: e.details }),
      );
    try {
      await waitFor('the unreachable line', () => fe.output().includes(`redis at 127.0.0.1:${redisPort} unreachable`), 5_000);
      expect(await readyStatus(fe.httpPort)).toBe(503);
      const down = await send(0);
      expect(down).toMatchObject({ ok: false, code: grpc.status.UNAVAILABLE });
      expect(down.ok ? '' : down.details).toMatch(/^queue backend unavailable/);
      expect(down.ok ? '' : down.details).not.toMatch(DRIVER_TEXT);
      await sleep(1_500); // still alive, still retrying, logged once
      expect(fe.alive()).toBe(true);
      expect(fe.output().match(/unreachable/g)).toHaveLength(1);

      // 2. Redis up, no worker: still not ready (no heartbeat)
      await startRedis();
      await waitFor('the reachable-again line', () => fe.output().includes(`redis at 127.0.0.1:${redisPort} reachable again`), 10_000);
      await sleep(400); // past the readiness cache
      expect(await readyStatus(fe.httpPort)).toBe(503);

      // 3. a worker: ready
      const w = startWorker();
      await w.started;
      await waitFor('readiness with a worker', async () => (await readyStatus(fe.httpPort)) === 200, 10_000);
      expect((await send(1)).ok).toBe(true);

      // 4. Redis restarts without persistence mid-load: every call ends with a clear status
      const outcomes: Promise<Outcome>[] = [];
      const load = (async () => {
        for (let i = 0; i < 300; i++) {
          outcomes.push(send(i, 2_000));
          await sleep(10);
        }
      })();
      await sleep(800);
      await shutdownRedis();
      await sleep(700);
      await startRedis();
      await load;
      // bound: deadline (2 s) + the frontend's grace (TTL + 2 reclaimIdle + 2 s) after the last send, with margin
      const settled = await Promise.race([Promise.all(outcomes), sleep(12_000).then(() => null)]);
      expect(settled, 'calls left unanswered').not.toBeNull();
      const seen = settled ?? [];
      expect(seen).toHaveLength(300);
      const failed = seen.filter((o): o is Extract<Outcome, { ok: false }> => !o.ok);
      expect(seen.length - failed.length).toBeGreaterThan(0);
      if (process.env.LIFECYCLE_DEBUG) console.log('restart mid-load:', seen.length - failed.length, 'ok;', JSON.stringify(failed.reduce<Record<string, number>>((m, f) => ({ ...m, [`${f.code} ${f.details}`]: (m[`${f.code} ${f.details}`] ?? 0) + 1 }), {})));
      for (const f of failed) {
        expect([grpc.status.UNAVAILABLE], f.details).toContain(f.code);
        expect(f.details).not.toMatch(DRIVER_TEXT);
        expect(f.details).not.toContain(PASSWORD);
      }
      // serving again once Redis is back (the worker's backoff is cut short by the reconnect)
      await waitFor('serving after the restart', async () => (await send(2)).ok, 10_000);
      const after = await Promise.all(Array.from({ length: 10 }, (_, i) => send(i)));
      expect(after.filter((o) => o.ok)).toHaveLength(10);

      // 5. requests Redis lost are queued again by the frontend (it still holds them) and answered;
      //    those whose deadline passed meanwhile are failed at once, not after deadline + grace
      w.child.kill('SIGSTOP'); // nobody pulls: the requests sit in the stream
      const t0 = Date.now();
      const held = Array.from({ length: 5 }, (_, i) => send(i, 20_000).then((o) => ({ o, ms: Date.now() - t0 })));
      const late = Array.from({ length: 3 }, (_, i) => send(i, 1_000).then((o) => ({ o, ms: Date.now() - t0 })));
      await sleep(300);
      await shutdownRedis();
      await sleep(1_200); // the short requests' deadlines pass while Redis is down
      await startRedis();
      const lateOutcomes = await Promise.all(late);
      w.child.kill('SIGCONT');
      for (const { o, ms } of lateOutcomes) {
        expect(o).toMatchObject({ ok: false, code: grpc.status.UNAVAILABLE, details: 'queue backend lost the request (redis restarted)' });
        expect(ms).toBeLessThan(8_000); // not deadline + grace
      }
      const lost = await Promise.all(held);
      for (const { o } of lost) expect(o, JSON.stringify(o)).toEqual({ ok: true });
      expect(fe.output()).toContain('frontend: queued 5 request(s) again that the queue backend lost (redis restarted)');
      await waitFor('serving after the second restart', async () => (await send(3)).ok, 10_000);

      // logs: one line per state change (not one per failure), no password, no per-failure lines
      for (const [who, out] of [
        ['frontend', fe.output()],
        ['worker', w.out()],
      ] as const) {
        const downs = (out.match(/ unreachable: /g) ?? []).length;
        const ups = (out.match(/ reachable again after /g) ?? []).length;
        expect(downs, `${who}:\n${out}`).toBeLessThanOrEqual(3);
        expect(ups, `${who}:\n${out}`).toBeGreaterThanOrEqual(downs - 1);
        expect(out, who).not.toContain(PASSWORD);
        expect(out, who).not.toMatch(/pull failed|reclaim failed|reply to .* failed|ack of .* failed/);
      }
      if (process.env.LIFECYCLE_DEBUG) console.log(`lost after: ${lost.map((l) => l.ms).join(', ')} ms\n--- frontend\n${fe.output()}\n--- worker\n${w.out()}`);
      expect(fe.alive()).toBe(true);
      expect(w.child.exitCode).toBeNull();
    } finally {
      client.close();
    }
  }, 90_000);
});
