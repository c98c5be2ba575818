/**
 * Early exits in the serving path (embedded server, real onnxruntime, staged batches): the stream
 * RPC delivers early answers before the final one, unary calls get the early answer as final, and
 * a request whose deadline passes mid-batch gets a flagged deadline answer.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OipClient, type InferResult } from '../../src/client/oip-client.js';
import { loadConfig } from '../../src/config.js';
import { startServer, type ServerHandle } from '../../src/server/serve.js';
import { Catalogue } from '../../src/supernet/catalogue.js';
import { loadSample, SUPERNET_DIR } from '../helpers.js';

const cat = Catalogue.load(SUPERNET_DIR);
const { x } = loadSample(cat);
const MODEL = cat.manifest.name;
let server: ServerHandle;
let client: OipClient;

beforeAll(async () => {
  const cfg = loadConfig({
    env: {},
    overrides: { supernet: SUPERNET_DIR, grpcPort: 0, httpPort: 0, host: '127.0.0.1', executorThreads: 1, exits: 'threshold', exitWarmupSamples: 128, policy: 'static-largest', admission: 'off' },
  });
  server = await startServer(cfg, { frontend: true, worker: true });
  client = new OipClient(`127.0.0.1:${server.grpcPort}`);
  // feedback: the whole 256-image sample, 64 at a time, tunes the thresholds
  for (let i = 0; i < 4; i++) await client.infer({ model: MODEL, images: x.slice(i * 64 * 784, (i + 1) * 64 * 784), shape: [64, 1, 28, 28], params: { 'slackserve.latency_budget_ms': 5000 } });
  for (let i = 0; i < 50 && Object.values(server.exits!.snapshotOf('r28_d333_w32-64-128').thresholds).every((t) => t === 0); i++) await new Promise((r) => setTimeout(r, 20));
});

afterAll(async () => {
  client?.close();
  await server?.stop();
});

describe('early exits while serving', () => {
  it('tunes thresholds from the served traffic (feedback from every final output)', async () => {
    const snap = server.exits!.snapshotOf('r28_d333_w32-64-128');
    expect(Object.values(snap.thresholds).some((t) => t > 0)).toBe(true);
    expect(snap.feedback).toBeGreaterThanOrEqual(256);
    // and observable in metrics
    const text = await (await fetch(`http://127.0.0.1:${server.httpPort}/metrics`)).text();
    expect(text).toMatch(/slackserve_exit_threshold\{[^}]*subnet="r28_d333_w32-64-128"[^}]*\} 0\.\d*[1-9]/);
    expect(text).toMatch(/slackserve_exit_feedback_samples\{[^}]*subnet="r28_d333_w32-64-128"[^}]*\} \d{3,}/);
  });

  it('streams an early answer, flagged, before the final one; each request gets exactly one final', async () => {
    const got = new Map<string, InferResult[]>();
    const errors: string[] = [];
    const s = client.stream((m) => {
      if (m.result) got.set(m.result.id, [...(got.get(m.result.id) ?? []), m.result]);
      if (m.error !== undefined) errors.push(m.error);
    });
    // a bad request on the stream: its error names its id (Triton's clients see only the message)
    s.write({ model: MODEL, id: 'bad-1', images: x.slice(0, 784), shape: [1, 28, 28], params: {} });
    const n = 64;
    for (let i = 0; i < n; i++) s.write({ model: MODEL, id: `s${i}`, images: x.slice(i * 784, (i + 1) * 784), shape: [1, 1, 28, 28], params: { 'slackserve.latency_budget_ms': 5000 } });
    for (let k = 0; k < 500 && [...got.values()].filter((v) => v.some((r) => r.params['slackserve.early'] !== true)).length < n; k++) await new Promise((r) => setTimeout(r, 20));
    s.end();
    await s.done;
    let early = 0;
    for (let i = 0; i < n; i++) {
      const msgs = got.get(`s${i}`) ?? [];
      const finals = msgs.filter((r) => r.params['slackserve.early'] !== true);
      expect(finals, `s${i}`).toHaveLength(1);
      expect(finals[0]!.params['slackserve.exit']).toBe('final');
      // Triton's marker of the last answer; early answers are flagged non-final
      expect(finals[0]!.params['triton_final_response']).toBe(true);
      expect(msgs.at(-1)).toBe(finals[0]);
      const earlies = msgs.filter((r) => r.params['slackserve.early'] === true);
      for (const e of earlies) expect(e.params['triton_final_response']).toBe(false);
      if (earlies.length > 0) {
        early++;
        expect(msgs.indexOf(earlies[0]!)).toBeLessThan(msgs.indexOf(finals[0]!));
        expect(earlies[0]!.params['slackserve.exit']).toMatch(/^s\db\d$/);
        expect(earlies[0]!.classes).toHaveLength(1);
      }
    }
    expect(early).toBeGreaterThan(0);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/^input 'image': shape \[1,28,28\] does not match .* \[request id: bad-1\]$/);
  });

  it('answers a unary call at its exit and flags a deadline answer when the batch would be late', async () => {
    const unary = await Promise.all(Array.from({ length: 32 }, (_, i) => client.infer({ model: MODEL, images: x.slice(i * 784, (i + 1) * 784), shape: [1, 1, 28, 28], params: { 'slackserve.latency_budget_ms': 5000 } })));
    expect(unary.some((r) => String(r.params['slackserve.exit']).startsWith('s'))).toBe(true);
    // 64 images on the largest subnet take over 30 ms staged (measured: a 30 ms budget still gets
    // a deadline answer), so 15 ms cannot be met in full; 15, not less, because under the full
    // suite's load the request can wait several ms before the worker admits it, and one whose
    // deadline passed in the queue is failed, not answered (seen with 4 ms)
    const r = await client.infer({ model: MODEL, images: x.slice(0, 64 * 784), shape: [64, 1, 28, 28], params: { 'slackserve.latency_budget_ms': 15, 'slackserve.sheddable': false } });
    expect(r.params['slackserve.deadline_answer']).toBe(true);
    expect(r.classes).toHaveLength(64);
    expect(String(r.params['slackserve.exit'])).toMatch(/^s\db\d$/);
  });
});

describe('early exits in compute-saving mode', () => {
  it('answers released rows once, as final, and still answers everything', async () => {
    const cfg = loadConfig({
      env: {},
      overrides: { supernet: SUPERNET_DIR, grpcPort: 0, httpPort: 0, host: '127.0.0.1', executorThreads: 1, exits: 'threshold', exitMode: 'save-compute', exitWarmupSamples: 128, policy: 'static-largest', admission: 'off' },
    });
    const srv = await startServer(cfg, { frontend: true, worker: true });
    const c = new OipClient(`127.0.0.1:${srv.grpcPort}`);
    try {
      for (let i = 0; i < 4; i++) await c.infer({ model: MODEL, images: x.slice(i * 64 * 784, (i + 1) * 64 * 784), shape: [64, 1, 28, 28], params: { 'slackserve.latency_budget_ms': 5000 } });
      const got = new Map<string, InferResult[]>();
      const s = c.stream((m) => {
        if (m.result) got.set(m.result.id, [...(got.get(m.result.id) ?? []), m.result]);
      });
      const n = 48;
      for (let i = 0; i < n; i++) s.write({ model: MODEL, id: `c${i}`, images: x.slice(i * 784, (i + 1) * 784), shape: [1, 1, 28, 28], params: { 'slackserve.latency_budget_ms': 5000 } });
      for (let k = 0; k < 500 && got.size < n; k++) await new Promise((r) => setTimeout(r, 20));
      await new Promise((r) => setTimeout(r, 100));
      s.end();
      await s.done;
      expect(got.size).toBe(n);
      for (const msgs of got.values()) {
        expect(msgs).toHaveLength(1); // one answer: an early one is final here
        expect(msgs[0]!.params['slackserve.early']).not.toBe(true);
      }
      expect([...got.values()].some((m) => m[0]!.params['slackserve.exit'] !== 'final')).toBe(true);
    } finally {
      c.close();
      await srv.stop();
    }
  });
});
