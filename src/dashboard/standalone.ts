/**
 * `slackserve dashboard --redis URL`: the live dashboard for a split deployment, in its own
 * process. It subscribes to every frontend's outcomes through Redis and reads the shared queue's
 * depth; per-worker exit state stays in the workers' /metrics (Grafana shows it).
 */
import { createServer, type Server } from 'node:http';
import { authorized, type TokenSet, unauthenticated } from '../api/auth.js';
import { sendJson, type RouteHandler } from '../api/http-server.js';
import { toHttpError } from '../api/status.js';
import { createQueue, type RedisTarget } from '../queue/index.js';
import { mountDashboard } from './dashboard.js';
import { subscribeOutcomes } from './outcome-bus.js';

export interface StandaloneOptions {
  /** The deployment's Redis: a URL, or Sentinels and the URL's credentials (as the frontends have it). */
  readonly redis: RedisTarget | string;
  readonly prefix: string;
  readonly host: string;
  readonly port: number;
  readonly model: string;
  /** The metrics token every route requires (none or empty: open). */
  readonly metricsToken?: TokenSet | undefined;
}

export async function startStandaloneDashboard(o: StandaloneOptions): Promise<{ port: number; stop(): Promise<void> }> {
  const routes = new Map<string, RouteHandler>();
  const t: RedisTarget = typeof o.redis === 'string' ? { url: o.redis } : o.redis;
  const queue = createQueue({ redisUrl: t.url, sentinels: t.sentinels, sentinelName: t.sentinelName, sentinelPassword: t.sentinelPassword, prefix: o.prefix });
  let depth = 0;
  const poll = setInterval(() => void queue.depth().then((d) => (depth = d), () => undefined), 250);
  const listeners = new Set<(e: Parameters<Parameters<typeof subscribeOutcomes>[2]>[0]) => void>();
  const sub = await subscribeOutcomes(t, o.prefix, (e) => {
    for (const l of listeners) l(e);
  });
  const dash = mountDashboard(
    { route: (method, path, handler) => routes.set(`${method.toUpperCase()} ${path}`, handler) },
    {
      outcomes: (l) => {
        listeners.add(l);
        return () => listeners.delete(l);
      },
      queue: () => ({ shared: depth, local: null, inFlight: null }),
      policy: '(split deployment)',
      model: o.model,
      clock: () => performance.timeOrigin + performance.now(),
    },
  );
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    const handler = routes.get(`${(req.method ?? 'GET').toUpperCase()} ${path}`);
    if (!handler) {
      res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ error: `no route for ${path}` }));
      return;
    }
    if (o.metricsToken && !authorized({ api: o.metricsToken, metrics: o.metricsToken }, 'metrics', req.headers.authorization)) {
      const h = toHttpError(unauthenticated('metrics', req.headers.authorization));
      sendJson(res, h.status, h.body, h.headers);
      return;
    }
    const ac = new AbortController();
    res.on('close', () => ac.abort());
    void Promise.resolve(handler(req, res, { params: {}, url: new URL(req.url ?? '/', 'http://localhost'), signal: ac.signal })).catch(() => res.destroy());
  });
  await new Promise<void>((res, rej) => {
    server.once('error', rej);
    server.listen(o.port, o.host, () => res());
  });
  const addr = server.address();
  return {
    port: addr && typeof addr === 'object' ? addr.port : o.port,
    stop: async () => {
      dash.close();
      clearInterval(poll);
      await sub.close();
      await queue.close();
      await new Promise<void>((res) => server.close(() => res()));
    },
  };
}
