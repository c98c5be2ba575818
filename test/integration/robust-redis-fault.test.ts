/**
 * Redis faults mid-batch: a worker process reaches the real Redis through a TCP proxy that the
 * test cuts (every connection destroyed, new ones refused for a moment) while batches run, three
 * times. Replies, acks and pulls then fail inside the worker; it must log them and carry on, and
 * serve again once Redis is reachable. (Before, the batch promise had no handler and the worker
 * process exited on the first failed reply.)
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { OipClient } from '../../src/client/oip-client.js';
import { Catalogue } from '../../src/supernet/catalogue.js';
import { CuttableProxy } from '../cuttable-proxy.js';
import { loadSample, SUPERNET_DIR } from '../helpers.js';
import { type ServeProcess, spawnServe } from '../serve-process.js';

const REDIS = 'redis://127.0.0.1:6379';
const prefix = `slackserve-fault-${process.pid}-${Date.now()}`;
const cat = Catalogue.load(SUPERNET_DIR);
const { x } = loadSample(cat);
const MODEL = cat.manifest.name;
const INPUT = cat.manifest.input.name;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

let proxy: CuttableProxy | undefined;
let worker: ChildProcess | undefined;
let frontend: ServeProcess | undefined;
let workerOut = '';

afterAll(async () => {
  worker?.kill('SIGKILL');
  await frontend?.stop();
  proxy?.close();
  const r = new Redis(REDIS);
  const keys = await r.keys(`${prefix}*`);
  if (keys.length > 0) await r.del(...keys);
  r.disconnect();
});

function startWorker(port: number): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['bin/slackserve.js', 'worker', '--redis', `redis://127.0.0.1:${port}`, '--metrics-port', '0', '--host', '127.0.0.1', '--threads', '1', '--supernet', SUPERNET_DIR], {
    env: { ...process.env, SLACKSERVE_QUEUE_PREFIX: prefix, SLACKSERVE_RECLAIM_IDLE_MS: '300' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.on('data', (d: Buffer) => (workerOut += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (workerOut += d.toString()));
  return new Promise((resolve, reject) => {
    const t = setInterval(() => {
      if (workerOut.includes('slackserve worker:')) {
        clearInterval(t);
        resolve(child);
      }
    }, 20);
    child.once('exit', (code) => {
      clearInterval(t);
      reject(new Error(`worker exited (${code}): ${workerOut}`));
    });
  });
}

describe('a Redis reply failure mid-batch', () => {
  it('the worker logs it, survives three cuts under load, and serves again', async () => {
    proxy = new CuttableProxy();
    const port = await proxy.listen();
    worker = await startWorker(port);
    frontend = await spawnServe('frontend', ['--redis', REDIS], { SLACKSERVE_QUEUE_PREFIX: prefix, SLACKSERVE_RECLAIM_IDLE_MS: '300' });
    const client = new OipClient(`127.0.0.1:${frontend.grpcPort}`);
    await client.waitReady(10_000);

    // ~150 req/s for 3 s, with a cut every ~1.3 s while batches run
    const outcomes: Promise<string>[] = [];
    const send = (i: number): Promise<string> =>
      client
        .infer({ model: MODEL, images: x.slice((i % 64) * 784, ((i % 64) + 1) * 784), shape: [1, 1, 28, 28], inputName: INPUT, params: { 'slackserve.latency_budget_ms': 400 } })
        .then(
          () => 'ok',
          (e: { code: number; details: string }) => `status ${e.code} ${e.details}`,
        );
    const load = (async () => {
      for (let i = 0; i < 450; i++) {
        outcomes.push(send(i));
        await sleep(6);
      }
    })();
    for (let k = 0; k < 3; k++) {
      await sleep(700);
      await proxy.cut(600); // longer than ioredis's one retry: commands in flight fail
    }
    await load;
    const seen = await Promise.all(outcomes);
    // every call ended with a status, answered or failed (none left hanging)
    expect(seen).toHaveLength(450);
    expect(seen.filter((s) => s === 'ok').length).toBeGreaterThan(0);
    expect(worker.exitCode, workerOut).toBeNull();
    expect(worker.signalCode).toBeNull();
    expect(workerOut).not.toMatch(/unhandled/i);
    // the cuts did disrupt serving (requests that arrived while the worker was cut off expired)
    const failed = seen.filter((s) => s !== 'ok');
    expect(failed.length).toBeGreaterThan(0);
    // but no answer was lost with a cut: a reply that failed is sent again once Redis is back, and
    // its request is not acked until then, so no call waits out deadline + grace for nothing
    expect(failed.filter((s) => s.includes('no worker answered'))).toEqual([]);

    // Redis reachable again: the same worker answers everything
    await sleep(500);
    const after = await Promise.all(Array.from({ length: 20 }, (_, i) => send(i)));
    expect(after.filter((s) => s === 'ok')).toHaveLength(20);
    client.close();
  }, 60_000);
});
