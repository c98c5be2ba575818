/**
 * The live dashboard at /dashboard: a page (uPlot, served from the installed npm package, no
 * build step, no network) fed by a server push channel (Server-Sent Events at
 * /dashboard/events, one JSON snapshot every `intervalMs`), not by polling /metrics.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { ServerResponse } from 'node:http';
import type { AccessScope } from '../api/auth.js';
import type { RouteHandler } from '../api/http-server.js';
import type { ExitManager } from '../exits/index.js';
import type { OutcomeEvent } from '../metrics/outcome-event.js';
import type { WorkerLoop } from '../worker/worker-loop.js';
import { LiveStats } from './live-stats.js';
import { DASHBOARD_HTML } from './page.js';

/** Anything that can register routes (the server's HTTP edge, or the standalone dashboard). */
export interface Router {
  /** `scope`: which token the route needs (the dashboard's routes: the metrics token). */
  route(method: string, path: string, handler: RouteHandler, scope?: AccessScope): void;
}

export interface DashboardSources {
  /** Finished calls, as they happen (returns the unsubscribe function). */
  readonly outcomes: (listener: (e: OutcomeEvent) => void) => () => void;
  /** Waiting work: the shared queue, this process's worker, calls in flight. */
  readonly queue: () => { shared: number; local: number | null; inFlight: number | null };
  readonly worker?: WorkerLoop | undefined;
  readonly exits?: ExitManager | undefined;
  readonly executorThreads?: number;
  readonly policy: string;
  readonly model: string;
  /** Top-1 accuracy of the least and most accurate served (Pareto) subnets: the served-accuracy band. */
  readonly accuracyRange?: { readonly min: number; readonly max: number } | undefined;
  /** The served subnets, fastest first: the layers of the subnet-mix chart. */
  readonly subnets?: readonly string[] | undefined;
  readonly clock: () => number;
  readonly intervalMs?: number;
}

export interface Dashboard {
  /** Ends the open event streams (so the HTTP server can stop at once). */
  close(): void;
}

const require = createRequire(import.meta.url);

export function mountDashboard(http: Router, src: DashboardSources): Dashboard {
  const stats = new LiveStats(5);
  const off = src.outcomes((e) => stats.record(e, src.clock()));
  const streams = new Set<ServerResponse>();
  const asset = (path: string, type: string): void => {
    const file = require.resolve(`uplot/dist/${path}`);
    http.route('GET', `/dashboard/${path}`, (_req, res) => {
      res.writeHead(200, { 'content-type': type, 'cache-control': 'max-age=3600' });
      res.end(readFileSync(file));
    }, 'metrics');
  };
  asset('uPlot.iife.min.js', 'text/javascript');
  asset('uPlot.min.css', 'text/css');
  http.route('GET', '/dashboard', (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end(DASHBOARD_HTML);
  }, 'metrics');
  const snapshot = (): unknown => {
    const now = src.clock();
    const exits = src.exits?.snapshot().map((s) => ({ subnet: s.subnet, policy: s.policy, thresholds: s.thresholds, active: s.active, windowAccuracy: s.windowAccuracy, deadlineAnswers: s.deadlineAnswers }));
    return {
      model: src.model,
      policy: src.policy,
      accuracyRange: src.accuracyRange ?? null,
      subnets: src.subnets ?? [],
      ...stats.snapshot(now),
      queue: src.queue(),
      workers: src.worker ? [{ threads: src.executorThreads ?? null, ...src.worker.stats }] : [],
      exits: exits ?? [],
    };
  };
  http.route('GET', '/dashboard/events', (req, res, ctx) => {
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
    streams.add(res);
    const send = (): void => {
      res.write(`data: ${JSON.stringify(snapshot())}\n\n`);
    };
    send();
    const timer = setInterval(send, src.intervalMs ?? 500);
    const stop = (): void => {
      clearInterval(timer);
      streams.delete(res);
    };
    ctx.signal.addEventListener('abort', stop, { once: true });
    req.on('close', stop);
  }, 'metrics');
  return {
    close: () => {
      off();
      for (const r of streams) r.end();
      streams.clear();
    },
  };
}
