/**
 * The edge's adaptive door limit turns on when calls are shed for load. A call refused because no
 * subnet could meet its own accuracy floor, even on an idle server, says nothing of load: right
 * after one, a burst of long-budget calls must be served in full (before the fix, all but the
 * floor of 16 were refused RESOURCE_EXHAUSTED "the server is shedding load": seen as a flaky
 * failure of serving-e2e's SIGKILL test, which follows a min_accuracy 0.99 case).
 */
import * as grpc from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { OipClient } from '../../src/client/oip-client.js';
import { loadConfig } from '../../src/config.js';
import { startServer } from '../../src/server/serve.js';
import { Catalogue } from '../../src/supernet/catalogue.js';
import { loadSample, SUPERNET_DIR } from '../helpers.js';

describe('door limit and infeasible requests', () => {
  it('a request no subnet could ever serve does not turn the door limit on', async () => {
    const cat = Catalogue.load(SUPERNET_DIR);
    const { x } = loadSample(cat);
    const server = await startServer(loadConfig({ env: {}, overrides: { supernet: SUPERNET_DIR, redisUrl: 'embedded', grpcPort: 0, httpPort: 0, host: '127.0.0.1', executorThreads: 1 } }), { frontend: true, worker: true });
    const client = new OipClient(`127.0.0.1:${server.grpcPort}`);
    const call = (params: Record<string, number>, i = 0) =>
      client.infer({ model: cat.manifest.name, images: x.slice((i % 100) * 784, ((i % 100) + 1) * 784), shape: [1, 1, 28, 28], params }).then(
        () => 'ok',
        (e: grpc.ServiceError) => `${grpc.status[e.code]} ${e.details}`,
      );
    try {
      expect(await call({ 'slackserve.latency_budget_ms': 5000 })).toBe('ok');
      const shed = await call({ 'slackserve.min_accuracy': 0.99 });
      expect(shed).toMatch(/^UNAVAILABLE Request timeout expired: .*min_accuracy 0.99/);
      // within the door's 1 s hold: 80 calls at once, each with a budget that fits
      const burst = await Promise.all(Array.from({ length: 80 }, (_, i) => call({ 'slackserve.latency_budget_ms': 20_000 }, i)));
      expect(burst.filter((r) => r !== 'ok')).toEqual([]);
    } finally {
      client.close();
      await server.stop();
    }
  });
});
