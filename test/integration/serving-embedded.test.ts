/** `slackserve serve` on the embedded (in-process) queue: REST and gRPC, then a graceful stop. */
import * as grpc from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { OipClient } from '../../src/client/oip-client.js';
import { loadConfig } from '../../src/config.js';
import { startServer } from '../../src/server/serve.js';
import { Catalogue } from '../../src/supernet/catalogue.js';
import { loadSample, SUPERNET_DIR } from '../helpers.js';

const cat = Catalogue.load(SUPERNET_DIR);
const { x } = loadSample(cat);

describe('embedded serve (in-process queue)', () => {
  it('serves REST and gRPC with nothing else installed, and stops gracefully with calls in flight', async () => {
    const cfg = loadConfig({ env: {}, overrides: { supernet: SUPERNET_DIR, grpcPort: 0, httpPort: 0, host: '127.0.0.1', executorThreads: 1 } });
    expect(cfg.redisUrl).toBe('embedded');
    const server = await startServer(cfg, { frontend: true, worker: true });
    const client = new OipClient(`127.0.0.1:${server.grpcPort}`);
    try {
      const body = { inputs: [{ name: 'image', shape: [2, 1, 28, 28], datatype: 'FP32', data: Array.from(x.slice(0, 2 * 784)) }], parameters: { 'slackserve.latency_budget_ms': 2000 } };
      const res = await fetch(`http://127.0.0.1:${server.httpPort}/v2/models/${cat.manifest.name}/infer`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
      expect(res.status).toBe(200);
      const json = (await res.json()) as { outputs: { name: string; data: number[] }[]; parameters: Record<string, unknown> };
      expect(json.outputs.find((o) => o.name === 'class')?.data).toHaveLength(2);
      expect(typeof json.parameters['slackserve.subnet']).toBe('string');
      const bad = await fetch(`http://127.0.0.1:${server.httpPort}/v2/models/${cat.manifest.name}/infer`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"inputs": [' });
      expect(bad.status).toBe(400);
      expect(((await bad.json()) as { error: string }).error).toMatch(/JSON/i);
      // graceful stop: every call in flight settles (answered, or a clear UNAVAILABLE/CANCELLED)
      const calls = Array.from({ length: 30 }, (_, i) =>
        client.infer({ model: cat.manifest.name, images: x.slice(i * 784, (i + 1) * 784), shape: [1, 1, 28, 28], params: { 'slackserve.latency_budget_ms': 5000 } }).then(
          () => 'OK',
          (e: grpc.ServiceError) => grpc.status[e.code],
        ),
      );
      // stop once calls are in flight at the frontend: those are answered, later ones refused
      for (let i = 0; i < 200 && (server.frontend?.inFlight ?? 0) < 5; i++) await new Promise((r) => setTimeout(r, 5));
      const inFlight = server.frontend?.inFlight ?? 0;
      expect(inFlight).toBeGreaterThanOrEqual(5);
      await server.stop();
      const outcomes = await Promise.all(calls);
      expect(outcomes.every((o) => ['OK', 'UNAVAILABLE', 'CANCELLED'].includes(o))).toBe(true);
      expect(outcomes.filter((o) => o === 'OK').length).toBeGreaterThanOrEqual(inFlight);
    } finally {
      client.close();
      await server.stop();
    }
  });
});
