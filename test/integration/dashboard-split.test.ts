/** `slackserve dashboard --redis`: outcomes from a frontend in another role reach the standalone dashboard. */
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { OipClient } from '../../src/client/oip-client.js';
import { loadConfig } from '../../src/config.js';
import { startStandaloneDashboard } from '../../src/dashboard/standalone.js';
import { startServer } from '../../src/server/serve.js';
import { Catalogue } from '../../src/supernet/catalogue.js';
import { dashboardTotal, loadSample, SUPERNET_DIR } from '../helpers.js';

const REDIS = 'redis://127.0.0.1:6379';

describe('standalone dashboard (split deployment)', () => {
  it('streams the outcomes every frontend publishes through Redis', async () => {
    const prefix = `slackserve-dash-${process.pid}-${Date.now()}`;
    const cat = Catalogue.load(SUPERNET_DIR);
    const { x } = loadSample(cat);
    const server = await startServer(loadConfig({ env: {}, overrides: { supernet: SUPERNET_DIR, redisUrl: REDIS, queuePrefix: prefix, grpcPort: 0, httpPort: 0, host: '127.0.0.1', executorThreads: 1 } }), { frontend: true, worker: true });
    const dash = await startStandaloneDashboard({ redis: REDIS, prefix, host: '127.0.0.1', port: 0, model: cat.manifest.name });
    const client = new OipClient(`127.0.0.1:${server.grpcPort}`);
    const ac = new AbortController();
    try {
      expect(await (await fetch(`http://127.0.0.1:${dash.port}/dashboard`)).text()).toMatch(/uPlot/);
      await Promise.all(Array.from({ length: 20 }, (_, i) => client.infer({ model: cat.manifest.name, images: x.slice(i * 784, (i + 1) * 784), shape: [1, 1, 28, 28], params: { 'slackserve.latency_budget_ms': 2000 } })));
      const res = await fetch(`http://127.0.0.1:${dash.port}/dashboard/events`, { signal: ac.signal });
      expect(res.headers.get('content-type')).toMatch(/text\/event-stream/);
      expect(await dashboardTotal(res, 20)).toBe(20);
    } finally {
      ac.abort();
      client.close();
      await dash.stop();
      await server.stop();
      const r = new Redis(REDIS);
      const keys = await r.keys(`${prefix}*`);
      if (keys.length > 0) await r.del(...keys);
      r.disconnect();
    }
  });
});
