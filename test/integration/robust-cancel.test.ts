/**
 * Cancel storms against real server processes: clients that cancel gRPC calls, or drop HTTP
 * connections, 0-3 ms after sending, on the embedded queue and on the Redis path (where a cancel
 * used to land while the request was being written to Redis, rejecting a promise nobody owned,
 * which ended the process). After each storm the server must still be running and answer.
 */
import { request as httpRequest } from 'node:http';
import * as grpc from '@grpc/grpc-js';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { OipClient } from '../../src/client/oip-client.js';
import { Catalogue } from '../../src/supernet/catalogue.js';
import { loadSample, rng, SUPERNET_DIR } from '../helpers.js';
import { type ServeProcess, spawnServe } from '../serve-process.js';

const REDIS = 'redis://127.0.0.1:6379';
const prefix = `slackserve-cancel-${process.pid}-${Date.now()}`;
const cat = Catalogue.load(SUPERNET_DIR);
const { x } = loadSample(cat);
const MODEL = cat.manifest.name;
const INPUT = cat.manifest.input.name;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

const servers: ServeProcess[] = [];
afterAll(async () => {
  await Promise.all(servers.map((s) => s.stop()));
  const r = new Redis(REDIS);
  const keys = await r.keys(`${prefix}*`);
  if (keys.length > 0) await r.del(...keys);
  r.disconnect();
});

/** `n` gRPC calls, each cancelled 0-3 ms after it was sent; resolves with the status codes seen. */
async function grpcCancelStorm(port: number, n: number, seed: number): Promise<Map<number, number>> {
  const client = new OipClient(`127.0.0.1:${port}`);
  await client.waitReady(10_000);
  const random = rng(seed);
  const codes = new Map<number, number>();
  const calls: Promise<void>[] = [];
  for (let i = 0; i < n; i++) {
    const ac = new AbortController();
    const images = x.slice((i % 64) * 784, ((i % 64) + 1) * 784);
    calls.push(
      client.infer({ model: MODEL, images, shape: [1, 1, 28, 28], inputName: INPUT, params: { 'slackserve.latency_budget_ms': 5000 }, signal: ac.signal }).then(
        () => void codes.set(0, (codes.get(0) ?? 0) + 1),
        (e: grpc.ServiceError) => void codes.set(e.code, (codes.get(e.code) ?? 0) + 1),
      ),
    );
    setTimeout(() => ac.abort(), Math.floor(random() * 4));
    if (i % 50 === 49) await sleep(5);
  }
  await Promise.all(calls);
  client.close();
  return codes;
}

/** `n` HTTP infer requests whose connection is destroyed 0-3 ms after the body was sent. */
async function httpDisconnectStorm(port: number, n: number, seed: number): Promise<void> {
  const random = rng(seed);
  const body = JSON.stringify({ inputs: [{ name: INPUT, datatype: 'FP32', shape: [1, 1, 28, 28], data: Array.from(x.slice(0, 784)) }], parameters: { 'slackserve.latency_budget_ms': 5000 } });
  const done: Promise<void>[] = [];
  for (let i = 0; i < n; i++) {
    done.push(
      new Promise<void>((resolve) => {
        const req = httpRequest({ host: '127.0.0.1', port, method: 'POST', path: `/v2/models/${MODEL}/infer`, headers: { 'content-type': 'application/json' } }, (res) => {
          res.resume();
          res.on('end', () => resolve());
          res.on('error', () => resolve());
        });
        req.on('error', () => resolve());
        req.on('close', () => resolve());
        req.end(body);
        setTimeout(() => req.destroy(), Math.floor(random() * 4));
      }),
    );
  }
  await Promise.all(done);
}

async function stillAnswers(s: ServeProcess): Promise<void> {
  expect(s.alive(), s.output()).toBe(true);
  const client = new OipClient(`127.0.0.1:${s.grpcPort}`);
  const r = await client.infer({ model: MODEL, images: x.slice(0, 784), shape: [1, 1, 28, 28], inputName: INPUT, params: { 'slackserve.latency_budget_ms': 5000 } });
  client.close();
  expect(r.classes).toHaveLength(1);
  expect(s.output()).not.toMatch(/unhandled|UnhandledPromiseRejection/i);
}

describe('cancel storms', () => {
  it.each([
    ['embedded queue', [] as string[]],
    ['Redis queue', ['--redis', REDIS]],
  ])('%s: 400 cancelled gRPC calls and 100 dropped HTTP connections leave the server answering', async (_name, args) => {
    const s = await spawnServe('serve', [...args, '--threads', '1'], { SLACKSERVE_QUEUE_PREFIX: prefix });
    servers.push(s);
    const codes = await grpcCancelStorm(s.grpcPort, 400, 7);
    // every call ended with a status: answered, or cancelled by the client
    const total = [...codes.values()].reduce((a, b) => a + b, 0);
    expect(total).toBe(400);
    expect([...codes.keys()].every((c) => c === grpc.status.OK || c === grpc.status.CANCELLED), JSON.stringify([...codes])).toBe(true);
    await httpDisconnectStorm(s.httpPort, 100, 11);
    await sleep(300); // let any late rejection surface
    await stillAnswers(s);
  }, 60_000);
});
