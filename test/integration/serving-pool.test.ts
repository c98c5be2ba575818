/**
 * Reused buffers on the request path (the executor's batch pool, views into gRPC messages) must
 * never mix two requests: many concurrent calls with distinct images, batched together by the
 * worker, each get the answer for their own image (PyTorch's recorded prediction for it).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { OipClient } from '../../src/client/oip-client.js';
import { loadConfig } from '../../src/config.js';
import { startServer } from '../../src/server/serve.js';
import { Catalogue } from '../../src/supernet/catalogue.js';
import { loadSample, SUPERNET_DIR } from '../helpers.js';

const cat = Catalogue.load(SUPERNET_DIR);
const { x } = loadSample(cat);
const expected = JSON.parse(readFileSync(join(SUPERNET_DIR, 'sample', 'expected.json'), 'utf8')) as {
  subnets: Record<string, { predictions: number[]; margins: number[] }>;
};

describe('pooled buffers under concurrency', () => {
  it('each of 768 concurrent requests (1-3 images, distinct) gets the answer for its own images', async () => {
    const subnet = cat.pareto[0]!.id;
    const preds = expected.subnets[subnet]!;
    const images = preds.predictions.length;
    const cfg = loadConfig({ env: {}, overrides: { supernet: SUPERNET_DIR, grpcPort: 0, httpPort: 0, host: '127.0.0.1', executorThreads: 2, policy: `static:${subnet}` } });
    const server = await startServer(cfg, { frontend: true, worker: true });
    const client = new OipClient(`127.0.0.1:${server.grpcPort}`);
    try {
      const calls = Array.from({ length: 768 }, (_, i) => {
        const n = 1 + (i % 3);
        const first = (i * 7) % (images - n);
        return client
          .infer({ model: cat.manifest.name, images: x.slice(first * 784, (first + n) * 784), shape: [n, 1, 28, 28], params: { 'slackserve.latency_budget_ms': 30_000 } })
          .then((r) => ({ first, n, classes: Array.from(r.classes, Number), batch: r.params['slackserve.subnet'] }));
      });
      const answers = await Promise.all(calls);
      let compared = 0;
      for (const a of answers) {
        expect(a.batch).toBe(subnet);
        for (let k = 0; k < a.n; k++) {
          // near-ties between two classes may flip between PyTorch and onnxruntime: skip those rows
          if ((preds.margins[a.first + k] ?? 0) < 1e-3) continue;
          expect(a.classes[k], `request for images ${a.first}..${a.first + a.n - 1}, row ${k}`).toBe(preds.predictions[a.first + k]);
          compared++;
        }
      }
      expect(compared).toBeGreaterThan(1000);
      // the worker did batch requests together (else the pool was never shared between requests)
      const text = await server.metrics.text();
      const batches = Number(/slackserve_inference_exec_count\{[^}]*\} (\d+)/.exec(text)?.[1] ?? 'NaN');
      expect(batches).toBeLessThan(768);
    } finally {
      client.close();
      await server.stop();
    }
  }, 60_000);
});
