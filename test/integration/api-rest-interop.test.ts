/**
 * The REST edge (KServe v2 JSON) against the same in-test backend as the gRPC interop test
 * (test/api-edge-fixture.ts): the same answers and statuses as gRPC, in JSON.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HttpInferenceServer } from '../../src/api/http-server.js';
import { body, type Edges, image, logitsOf, MODEL, startEdges, TestBackend, until } from '../api-edge-fixture.js';

const backend = new TestBackend();
let edges: Edges;
let httpServer: HttpInferenceServer;
let base: string;

beforeAll(async () => {
  edges = await startEdges(backend);
  ({ httpServer, base } = edges);
});

afterAll(async () => {
  await edges?.stop();
});

describe('REST', () => {
  const post = (path: string, body: unknown) =>
    fetch(`${base}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: typeof body === 'string' ? body : JSON.stringify(body) });
  const restBody = (id: string, over: Record<string, unknown> = {}) => ({
    id,
    inputs: [{ name: 'image', shape: [1, 1, 28, 28], datatype: 'FP32', data: Array.from(image(1)) }],
    ...over,
  });

  it('health, metadata and readiness endpoints', async () => {
    const get = async (path: string) => {
      const r = await fetch(`${base}${path}`);
      return [r.status, await body(r)];
    };
    expect(await get('/v2/health/live')).toEqual([200, { live: true }]);
    expect(await get('/v2/health/ready')).toEqual([200, { ready: true }]);
    expect(await get(`/v2/models/${MODEL}/ready`)).toEqual([200, { name: MODEL, ready: true }]);
    expect(await get('/v2')).toEqual([200, { name: 'slackserve', version: '0.1.0', extensions: ['slackserve_slo'] }]);
    const [status, meta] = await get(`/v2/models/${MODEL}`);
    expect(status).toBe(200);
    expect(meta.inputs).toEqual([{ name: 'image', datatype: 'FP32', shape: [-1, 1, 28, 28] }]);
    const [s404, e404] = await get('/v2/models/nope');
    expect([s404, e404]).toEqual([404, { error: "unknown model 'nope'", code: 'MODEL_UNKNOWN' }]);
    expect((await get('/v2/models/nope/ready'))[0]).toBe(404);
    backend.ready_ = false;
    try {
      expect(await get('/v2/health/ready')).toEqual([503, { ready: false }]);
      expect(await get('/v2/health/live')).toEqual([200, { live: true }]);
    } finally {
      backend.ready_ = true;
    }
  });

  it('infer answers what gRPC answers, in JSON', async () => {
    const r = await post(`/v2/models/${MODEL}/infer`, restBody('h-1', { parameters: { 'slackserve.latency_budget_ms': 75, priority: 2 } }));
    expect(r.status).toBe(200);
    const j = await body(r);
    expect(j.id).toBe('h-1');
    expect(j.model_name).toBe(MODEL);
    expect(j.outputs[0]).toMatchObject({ name: 'logits', datatype: 'FP32', shape: [1, 10] });
    expect(Float32Array.from(j.outputs[0].data)).toEqual(logitsOf(image(1), 1));
    expect(j.outputs[1]).toMatchObject({ name: 'class', datatype: 'INT64', shape: [1] });
    expect(j.parameters).toMatchObject({ 'slackserve.subnet': 'r28_d222_w16-32-64', 'slackserve.compute_us': 900, 'slackserve.early': false });
    expect(backend.seen.at(-1)!.slo).toMatchObject({ budgetMs: 75, priority: 2 });
    expect(backend.seen.at(-1)!.protocol).toBe('http');
    const versioned = await post(`/v2/models/${MODEL}/versions/1/infer`, restBody('h-2', { outputs: [{ name: 'class' }] }));
    expect((await body(versioned)).outputs.map((o: any) => o.name)).toEqual(['class']);
  });

  it('errors as {"error"} with the same statuses, and the server keeps serving', async () => {
    const bad = await post(`/v2/models/${MODEL}/infer`, restBody('h-bad', { inputs: [{ name: 'image', shape: [2, 1, 28], datatype: 'FP32', data: [] }] }));
    expect(bad.status).toBe(400);
    expect(await body(bad)).toEqual({ error: "input 'image': shape [2,1,28] does not match [batch,1,28,28]", code: 'INPUT_INVALID' });

    const json = await post(`/v2/models/${MODEL}/infer`, '{"inputs": [');
    expect(json.status).toBe(400);
    expect((await body(json)).error).toMatch(/^invalid JSON body: /);

    const unknown = await post('/v2/models/nope/infer', restBody('h-x'));
    expect(unknown.status).toBe(404);

    const full = await post(`/v2/models/${MODEL}/infer`, restBody('queue-full-h'));
    expect(full.status).toBe(503);
    expect(full.headers.get('retry-after')).toBe('1');
    expect(await body(full)).toEqual({ error: 'Exceeds maximum queue size', code: 'QUEUE_FULL' });

    const big = await post(`/v2/models/${MODEL}/infer`, restBody('h-big', { pad: 'x'.repeat(100 * 1024) }));
    expect(big.status).toBe(413);
    expect((await body(big)).error).toContain('exceeds the limit of 65536 bytes');

    const noRoute = await fetch(`${base}/v3/whatever`);
    expect(noRoute.status).toBe(404);
    expect(await body(noRoute)).toEqual({ error: 'no route for GET /v3/whatever' });
    const method = await fetch(`${base}/v2/models/${MODEL}/infer`);
    expect(method.status).toBe(405);
    expect(method.headers.get('allow')).toBe('POST');

    const ok = await post(`/v2/models/${MODEL}/infer`, restBody('h-after'));
    expect(ok.status).toBe(200);
  });

  it('client disconnect aborts the backend signal', async () => {
    const abortedBefore = backend.aborted;
    backend.waiting = undefined;
    const ac = new AbortController();
    const pending = fetch(`${base}/v2/models/${MODEL}/infer`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(restBody('wait-h2')),
      signal: ac.signal,
    }).catch((e: unknown) => e);
    await until(() => backend.seen.some((r) => r.id === 'wait-h2'));
    ac.abort();
    expect(await pending).toBeInstanceOf(Error);
    await until(() => backend.aborted >= abortedBefore + 1);
    expect(backend.seen.find((r) => r.id === 'wait-h2')).toBeDefined();
  });

  it('routes registered by other modules (/metrics, /dashboard/*)', async () => {
    const m = await fetch(`${base}/metrics`);
    expect(m.status).toBe(200);
    expect(await m.text()).toBe('slackserve_up 1\n');
    const d = await fetch(`${base}/dashboard/js/app.js`);
    expect(await body(d)).toEqual({ asset: 'js/app.js' });
    expect(() => httpServer.route('GET', '/metrics', () => undefined)).toThrow(/already registered/);
  });
});
