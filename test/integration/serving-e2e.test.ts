/**
 * End to end over gRPC with real Redis: a frontend (this process) and worker processes
 * (`slackserve worker`, real onnxruntime) sharing a Redis Streams queue under a unique prefix.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OipClient, type InferCall } from '../../src/client/oip-client.js';
import { loadConfig } from '../../src/config.js';
import { startServer, type ServerHandle } from '../../src/server/serve.js';
import { Catalogue } from '../../src/supernet/catalogue.js';
import { loadSample, SUPERNET_DIR } from '../helpers.js';

const REDIS = 'redis://127.0.0.1:6379';
const prefix = `slackserve-e2e-${process.pid}-${Date.now()}`;
const cat = Catalogue.load(SUPERNET_DIR);
const { x } = loadSample(cat);
const expected = JSON.parse(readFileSync(join(SUPERNET_DIR, 'sample', 'expected.json'), 'utf8')) as { subnets: Record<string, { predictions: number[] }> };
const MODEL = cat.manifest.name;
const image = (i: number, n = 1): Float32Array => x.slice(i * 784, (i + n) * 784);

const workers: ChildProcess[] = [];
const logs = new Map<ChildProcess, string[]>();
function startWorker(extraEnv: Record<string, string> = {}): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['bin/slackserve.js', 'worker', '--redis', REDIS, '--metrics-port', '0', '--threads', '1', '--supernet', SUPERNET_DIR], {
    env: { ...process.env, SLACKSERVE_QUEUE_PREFIX: prefix, SLACKSERVE_RECLAIM_IDLE_MS: '300', ...extraEnv },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  workers.push(child);
  const lines: string[] = [];
  logs.set(child, lines);
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      lines.push(d.toString());
      if (out.includes('slackserve worker:')) resolve(child);
    });
    child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
    child.once('exit', (code) => reject(new Error(`worker exited (${code}): ${out}`)));
  });
}

let server: ServerHandle;
let client: OipClient;
const base = (over: Partial<InferCall> = {}): InferCall => ({ model: MODEL, images: image(0), shape: [1, 1, 28, 28], params: { 'slackserve.latency_budget_ms': 2000 }, ...over });
const statusOf = async (p: Promise<unknown>): Promise<{ code: number; details: string }> => {
  try {
    await p;
    return { code: grpc.status.OK, details: '' };
  } catch (e) {
    return e as grpc.ServiceError;
  }
};

beforeAll(async () => {
  const cfg = loadConfig({ env: {}, overrides: { supernet: SUPERNET_DIR, redisUrl: REDIS, queuePrefix: prefix, grpcPort: 0, httpPort: 0, host: '127.0.0.1', maxPending: 1000 } });
  server = await startServer(cfg, { frontend: true, worker: false });
  // a small local queue leaves most of a burst in Redis for the second worker to pull
  await startWorker({ SLACKSERVE_WORKER_LOCAL_CAP: '4' });
  client = new OipClient(`127.0.0.1:${server.grpcPort}`);
  await client.waitReady(10_000);
});

afterAll(async () => {
  client?.close();
  for (const w of workers) w.kill('SIGKILL');
  await server?.stop();
  const r = new Redis(REDIS);
  const keys = await r.keys(`${prefix}*`);
  if (keys.length > 0) await r.del(...keys);
  r.disconnect();
});

describe('serving end to end (gRPC + Redis + worker process)', () => {
  it('carries the SLO to the scheduler and reports what served the request', async () => {
    // only the most accurate subnet (93.01%) meets a 0.925 floor
    const r = await client.infer(base({ images: image(0, 4), shape: [4, 1, 28, 28], params: { 'slackserve.latency_budget_ms': 3000, 'slackserve.min_accuracy': 0.925 } }));
    const subnet = r.params['slackserve.subnet'] as string;
    expect(subnet).toBe('r28_d333_w32-64-128');
    expect(r.classes).toEqual(expected.subnets[subnet]!.predictions.slice(0, 4));
    expect(r.params['slackserve.deadline_met']).toBe(true);
    expect(r.params['slackserve.downgraded']).toBe(false);
    expect(Number(r.params['slackserve.compute_us'])).toBeGreaterThan(0);
    // the time outside queue and executor is exported: the server's total covers both
    expect(Number(r.params['slackserve.server_us'])).toBeGreaterThanOrEqual(Number(r.params['slackserve.queue_us']) + Number(r.params['slackserve.compute_us']) - 2); // each rounded to a microsecond
    expect(Number(r.params['slackserve.queue_us'])).toBeGreaterThanOrEqual(0);
    expect(r.logits.length).toBe(40);
    // Triton's timeout (us) and priority are accepted; a tiny budget still gets a valid answer or a clear shed
    const t = await client.infer(base({ params: { timeout: 2_000_000, priority: 1 } }));
    expect(t.classes).toHaveLength(1);
    // the frontend's metrics saw both, in Triton's families and ours
    const text = await (await fetch(`http://127.0.0.1:${server.httpPort}/metrics`)).text();
    expect(Number(/slackserve_inference_request_success\{[^}]*\} (\d+)/.exec(text)?.[1])).toBeGreaterThanOrEqual(2);
    expect(text).toMatch(/slackserve_slo_outcome_total\{class="default",outcome="met"[^}]*\} [1-9]/);
    expect(text).toMatch(/slackserve_subnet_choice_total\{subnet="r28_d333_w32-64-128"/);
    expect(text).toMatch(/slackserve_request_duration_seconds_bucket/);
    // readiness includes the queue backend; liveness does not
    expect((await fetch(`http://127.0.0.1:${server.httpPort}/v2/health/ready`)).status).toBe(200);
    expect((await fetch(`http://127.0.0.1:${server.httpPort}/v2/health/live`)).status).toBe(200);
  });

  it('answers every bad-input class with its status and keeps serving', async () => {
    const cases: [string, () => Promise<unknown>, number, RegExp][] = [
      ['shape', () => client.infer(base({ shape: [1, 28, 28] })), grpc.status.INVALID_ARGUMENT, /shape/],
      ['bytes', () => client.infer(base({ images: image(0).slice(0, 700) })), grpc.status.INVALID_ARGUMENT, /bytes|size|length/i],
      ['nan', () => client.infer(base({ images: Float32Array.from(image(0), (v, i) => (i === 5 ? NaN : v)) })), grpc.status.INVALID_ARGUMENT, /NaN|finite/i],
      ['batch', () => client.infer(base({ images: new Float32Array(65 * 784), shape: [65, 1, 28, 28] })), grpc.status.INVALID_ARGUMENT, /batch|64/],
      ['model', () => client.infer(base({ model: 'resnet50' })), grpc.status.NOT_FOUND, /resnet50/],
      ['min_accuracy', () => client.infer(base({ params: { 'slackserve.min_accuracy': 2 } })), grpc.status.INVALID_ARGUMENT, /min_accuracy/],
      ['typo', () => client.infer(base({ params: { 'slackserve.latency_budget': 10 } })), grpc.status.INVALID_ARGUMENT, /slackserve\.latency_budget/],
      ['unreachable floor', () => client.infer(base({ params: { 'slackserve.min_accuracy': 0.99 } })), grpc.status.UNAVAILABLE, /^Request timeout expired: .*min_accuracy 0.99/],
    ];
    for (const [name, p, code, msg] of cases) {
      const s = await statusOf(p());
      expect(s.code, name).toBe(code);
      expect(s.details, name).toMatch(msg);
      const ok = await client.infer(base());
      expect(ok.classes, `serving after ${name}`).toHaveLength(1);
    }
  });

  it('a worker killed with SIGKILL mid-run loses no accepted request', async () => {
    const victim = await startWorker();
    const n = 150;
    const calls = Array.from({ length: n }, (_, i) =>
      client.infer(base({ id: `k${i}`, images: image(i % 200), params: { 'slackserve.latency_budget_ms': 20_000 } })).then(
        (r) => ({ ok: true as const, r }),
        (e: grpc.ServiceError) => ({ ok: false as const, e }),
      ),
    );
    // kill it while it holds work (a fixed wait either found it idle, all 150 already answered on
    // a fast run, or not yet pulling on a loaded one): its consumer is worker-<pid>-<tag>
    const r = new Redis(REDIS);
    const held = async (): Promise<number> => {
      const summary = (await r.call('XPENDING', `${prefix}:requests`, 'workers')) as [number, string | null, string | null, [string, string][] | null];
      return Number((summary[3] ?? []).find(([c]) => c.startsWith(`worker-${victim.pid}-`))?.[1] ?? 0);
    };
    const until = Date.now() + 15_000;
    while ((await held()) === 0 && Date.now() < until) await new Promise((res) => setTimeout(res, 2));
    const exited = new Promise((res) => victim.once('exit', res));
    victim.kill('SIGKILL');
    await exited;
    // read before the survivor's reclaim (entries idle 300 ms): what the dead worker left behind
    const heldAtDeath = await held();
    r.disconnect();
    const results = await Promise.all(calls);
    const failed = results.filter((x) => !x.ok);
    expect(failed.map((f) => (f.ok ? '' : f.e.details))).toEqual([]);
    // the victim really held work: the survivor took it over
    expect(heldAtDeath, 'the victim held no request when it was killed').toBeGreaterThan(0);
    expect((logs.get(workers[0]!) ?? []).join('')).toMatch(/reclaimed \d+ request/);
    for (const [i, x] of results.entries()) if (x.ok) expect(x.r.id).toBe(`k${i}`);
  });

  it('cancellation removes a queued request, and a full queue rejects fast', async () => {
    // a frontend whose queue no worker serves
    const lonely = `${prefix}-noworker`;
    const cfg = loadConfig({ env: {}, overrides: { supernet: SUPERNET_DIR, redisUrl: REDIS, queuePrefix: lonely, grpcPort: 0, httpPort: 0, host: '127.0.0.1', maxPending: 2, admission: 'off' } });
    const fe = await startServer(cfg, { frontend: true, worker: false });
    const c = new OipClient(`127.0.0.1:${fe.grpcPort}`);
    try {
      const ac = new AbortController();
      const pending = statusOf(c.infer(base({ signal: ac.signal, params: { 'slackserve.latency_budget_ms': 60_000 } })));
      for (let i = 0; i < 50 && (await fe.queue.depth()) < 1; i++) await new Promise((r) => setTimeout(r, 20));
      expect(await fe.queue.depth()).toBe(1);
      ac.abort();
      expect((await pending).code).toBe(grpc.status.CANCELLED);
      for (let i = 0; i < 50 && (await fe.queue.depth()) > 0; i++) await new Promise((r) => setTimeout(r, 20));
      expect(await fe.queue.depth()).toBe(0);
      // maxPending 2: the third queued request is refused at once
      const stopHeld = new AbortController();
      const held = [0, 1].map(() => statusOf(c.infer(base({ signal: stopHeld.signal, params: { 'slackserve.latency_budget_ms': 60_000 } }))));
      for (let i = 0; i < 50 && (await fe.queue.depth()) < 2; i++) await new Promise((r) => setTimeout(r, 20));
      const third = await statusOf(c.infer(base()));
      expect(third.code).toBe(grpc.status.UNAVAILABLE);
      expect(third.details).toMatch(/Exceeds maximum queue size/);
      stopHeld.abort();
      expect((await Promise.all(held)).map((h) => h.code)).toEqual([grpc.status.CANCELLED, grpc.status.CANCELLED]);
    } finally {
      c.close();
      await fe.stop();
      const r = new Redis(REDIS);
      const keys = await r.keys(`${lonely}*`);
      if (keys.length > 0) await r.del(...keys);
      r.disconnect();
    }
  });
});
