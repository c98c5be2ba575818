/**
 * The REST edge (KServe v2 HTTP/JSON, same semantics as gRPC) on node:http, with a small router
 * other modules use to add their own routes (`/metrics`, `/dashboard/*`). Every request is
 * handled inside a try/catch: a bad request gets a 4xx JSON error and never affects the server.
 * A client that disconnects aborts the signal its request's work runs under.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { Socket } from 'node:net';
import { SlackserveError } from '../errors.js';
import { answerAndDrain, HttpStatusError, readInferBody } from './http-body.js';
import { type AccessScope, type AuthTokens, authorized, unauthenticated } from './auth.js';
import { CallCancel } from './cancel.js';
import { DRAINING_MESSAGE } from './grpc-guard.js';
import type { InflightLimit } from './inflight-limit.js';
import { parseSlo } from './slo.js';
import { toHttpError } from './status.js';
import { tensorSpecOf, type TensorSpec } from './tensors.js';
import { decodeRestInfer, type DecodedRestInfer, encodeRestInfer } from './tensors-rest.js';
import { httpsOptions, type TlsMaterial } from './tls.js';
import { tritonRoutes } from './triton-api.js';
import type { DecodedInfer, InferenceBackend } from './types.js';

export interface RouteContext {
  /** `{name}` segments of the route's path (URL-decoded); `*` holds the rest for prefix routes. */
  readonly params: Readonly<Record<string, string>>;
  readonly url: URL;
  /** Aborted when the client disconnects before the response is finished. */
  readonly signal: AbortSignal;
}

export type RouteHandler = (req: IncomingMessage, res: ServerResponse, ctx: RouteContext) => void | Promise<void>;

export interface HttpServerOptions {
  /** Bind address (default 127.0.0.1). */
  readonly host?: string;
  /** Port (default 8000, Triton's); 0 picks a free one (tests). */
  readonly port?: number;
  /** SLO budget for requests that give none (ms). */
  readonly defaultBudgetMs: number;
  readonly defaultSheddable?: boolean;
  /** Largest request body (bytes, default 16 MiB); larger ones get 413. */
  readonly bodyLimitBytes?: number;
  /** Requests handled at once (default 20,000); past it: 429 OVERLOADED at once. */
  readonly maxInflight?: number;
  /** The adaptive in-flight limit for inference requests, below maxInflight (shared with the gRPC edge). */
  readonly inflightLimit?: InflightLimit | undefined;
  /** A request whose headers and body have not all arrived this long after it began gets 408 (ms, default 10 s). */
  readonly readTimeoutMs?: number;
  /** Clock for arrival times (epoch ms; default Date.now). */
  readonly now?: () => number;
  /** Tokens routes require by scope (`api`: inference and metadata; `metrics`: /metrics, /dashboard); absent: none. */
  readonly auth?: AuthTokens | undefined;
  /** Serve HTTPS (mutual TLS when it holds a client CA); absent: plaintext HTTP. */
  readonly tls?: TlsMaterial | undefined;
  /** Told about every failed request (for logs and metrics). */
  readonly onRequestError?: (err: unknown, method: string, path: string) => void;
  /** True while the server drains: new requests (but health) get 503 "server is draining". */
  readonly draining?: (() => boolean) | undefined;
}

export const DEFAULT_HTTP_PORT = 8000;
export const DEFAULT_BODY_LIMIT_BYTES = 8 * 1024 * 1024;

export { HttpStatusError, mediaTypeOf, readBody, readJsonBody } from './http-body.js';

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Readonly<Record<string, string>> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    ...headers,
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

interface Route {
  readonly method: string;
  readonly segments: readonly string[];
  readonly prefix: boolean;
  readonly handler: RouteHandler;
  readonly scope: AccessScope;
}

function splitPath(path: string): string[] {
  return path.split('/').filter((s) => s.length > 0);
}

function match(route: Route, segs: readonly string[]): Record<string, string> | undefined {
  const fixed = route.prefix ? route.segments.slice(0, -1) : route.segments;
  if (route.prefix ? segs.length < fixed.length : segs.length !== fixed.length) return undefined;
  const params: Record<string, string> = Object.create(null) as Record<string, string>;
  for (let i = 0; i < fixed.length; i++) {
    const pat = fixed[i]!;
    const seg = segs[i]!;
    if (pat.startsWith('{') && pat.endsWith('}')) params[pat.slice(1, -1)] = seg;
    else if (pat !== seg) return undefined;
  }
  if (route.prefix) params['*'] = segs.slice(fixed.length).join('/');
  return params;
}

export class HttpInferenceServer {
  private readonly server: Server;
  private readonly routes: Route[] = [];
  private readonly now: () => number;
  private readonly bodyLimit: number;
  private readonly maxInflight: number;
  private inflight = 0;
  private boundPort: number | undefined;

  constructor(
    private readonly backend: InferenceBackend,
    private readonly opts: HttpServerOptions,
  ) {
    this.now = opts.now ?? Date.now;
    this.bodyLimit = opts.bodyLimitBytes ?? DEFAULT_BODY_LIMIT_BYTES;
    this.maxInflight = opts.maxInflight ?? 20_000;
    const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
      const refused = (err: SlackserveError): void => this.countRefused(req, err);
      if (opts.draining?.() === true && !(req.url ?? '').startsWith('/v2/health/')) {
        res.setHeader('connection', 'close'); // the client reconnects elsewhere
        const err = new SlackserveError('BACKEND_UNAVAILABLE', DRAINING_MESSAGE);
        refused(err);
        this.fail(req, res, err, req.method ?? 'GET', req.url ?? '/');
        return;
      }
      const arrival = this.now();
      const adaptive = req.method === 'POST' && (req.url ?? '').includes('/infer') ? opts.inflightLimit : undefined;
      if (this.inflight >= (adaptive?.limit(arrival) ?? this.maxInflight)) {
        const err = new SlackserveError('OVERLOADED', adaptive?.reason(arrival, 'requests') ?? `the server holds ${this.maxInflight} requests, its limit (maxInflight); retry later`);
        refused(err);
        this.fail(req, res, err, req.method ?? 'GET', req.url ?? '/');
        return;
      }
      this.inflight++;
      res.once('close', () => {
        this.inflight--;
        if (adaptive !== undefined && res.statusCode === 200) adaptive.answered(this.now());
      });
      // dispatch answers every error itself; this only guards against a failure while doing so
      this.dispatch(req, res).catch(() => res.destroy());
    };
    this.server = opts.tls ? (createHttpsServer(httpsOptions(opts.tls), onRequest) as unknown as Server) : createServer(onRequest);
    // `Expect: 100-continue` with a body over the limit: 413 at once, the client sends nothing
    this.server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => {
      const declared = Number(req.headers['content-length'] ?? 0);
      if (declared > this.bodyLimit) {
        sendJson(res, 413, { error: `request body of ${declared} bytes exceeds the limit of ${this.bodyLimit} bytes`, code: 'LIMIT_EXCEEDED' }, { connection: 'close' });
        return;
      }
      res.writeContinue();
      onRequest(req, res);
    });
    // a client that never finishes its request (slowloris) holds nothing past this: Node answers 408
    const readTimeout = opts.readTimeoutMs ?? 10_000;
    this.server.requestTimeout = readTimeout;
    this.server.headersTimeout = Math.min(readTimeout, 60_000);
    this.server.on('clientError', (_err: Error, socket: Socket) => {
      if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n');
      else socket.destroy();
    });
    this.registerBuiltins();
  }

  /**
   * Adds a route. `path` segments may be `{name}` (one segment, in ctx.params) and the last one
   * may be `*` (any rest, in ctx.params['*']). GET routes also answer HEAD. `scope` says which
   * token the route needs (`api` unless told: inference; `metrics`: /metrics, /dashboard; `open`: health).
   */
  route(method: string, path: string, handler: RouteHandler, scope: AccessScope = 'api'): void {
    const segments = splitPath(path);
    const prefix = segments[segments.length - 1] === '*';
    const m = method.toUpperCase();
    if (this.routes.some((r) => r.method === m && r.segments.join('/') === segments.join('/')))
      throw new SlackserveError('CONFIG_INVALID', `HTTP route ${m} ${path} is already registered`);
    this.routes.push({ method: m, segments, prefix, handler, scope });
  }

  start(): Promise<number> {
    const host = this.opts.host ?? '127.0.0.1';
    const port = this.opts.port ?? DEFAULT_HTTP_PORT;
    return new Promise((resolve, reject) => {
      const onError = (err: Error): void =>
        reject(new SlackserveError('CONFIG_INVALID', `cannot bind the HTTP server to ${host}:${port}: ${err.message}`, { host, port }, { cause: err }));
      this.server.once('error', onError);
      this.server.listen(port, host, () => {
        this.server.off('error', onError);
        const addr = this.server.address();
        this.boundPort = typeof addr === 'object' && addr !== null ? addr.port : port;
        resolve(this.boundPort);
      });
    });
  }

  get port(): number | undefined {
    return this.boundPort;
  }

  /** Stops accepting connections, lets running requests finish; after `timeoutMs` closes the rest. */
  stop(timeoutMs = 5000): Promise<void> {
    return new Promise((resolve) => {
      if (!this.server.listening) {
        resolve();
        return;
      }
      const timer = setTimeout(() => this.server.closeAllConnections(), timeoutMs);
      this.server.close(() => {
        clearTimeout(timer);
        resolve();
      });
      this.server.closeIdleConnections();
    });
  }

  private async dispatch(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const method = (req.method ?? 'GET').toUpperCase();
    const rawPath = (req.url ?? '/').split('?')[0] ?? '/';
    const ac = new AbortController();
    res.on('close', () => {
      if (!res.writableFinished) ac.abort(new SlackserveError('CANCELLED', 'the client disconnected'));
    });
    try {
      const url = new URL(req.url ?? '/', 'http://localhost');
      let segs: string[];
      try {
        segs = splitPath(url.pathname).map((s) => decodeURIComponent(s));
      } catch {
        throw new HttpStatusError(400, `malformed percent-encoding in path ${rawPath}`);
      }
      const matches = this.routes.flatMap((r) => {
        const params = match(r, segs);
        return params ? [{ r, params }] : [];
      });
      if (matches.length === 0) throw new HttpStatusError(404, `no route for ${method} ${url.pathname}`);
      const want = method === 'HEAD' ? ['HEAD', 'GET'] : [method];
      const found = want.map((m) => matches.find((x) => x.r.method === m)).find((x) => x !== undefined);
      if (!found) {
        const allow = [...new Set(matches.map((x) => x.r.method))].join(', ');
        throw new HttpStatusError(405, `${method} is not allowed on ${url.pathname} (allowed: ${allow})`, { allow });
      }
      const authorization = req.headers.authorization;
      if (!authorized(this.opts.auth, found.r.scope, authorization)) {
        const err = unauthenticated(found.r.scope, authorization);
        this.countRefused(req, err);
        throw err;
      }
      await found.r.handler(req, res, { params: found.params, url, signal: ac.signal });
    } catch (err) {
      this.fail(req, res, err, method, rawPath);
    }
  }

  /** An inference request refused before its handler ran still counts as a failed request. */
  private countRefused(req: IncomingMessage, err: unknown): void {
    const m = /^\/v2\/models\/([^/?]+)(?:\/versions\/([^/?]+))?\/infer(?:\?|$)/.exec(req.url ?? '');
    if (!m || req.method !== 'POST') return;
    try {
      this.backend.recordEdgeFailure?.(safeDecode(m[1] ?? ''), safeDecode(m[2] ?? ''), err, this.now());
    } catch {
      // counting must not fail the refusal
    }
  }

  private fail(req: IncomingMessage, res: ServerResponse, err: unknown, method: string, path: string): void {
    try {
      this.opts.onRequestError?.(err, method, path);
    } catch {
      // a failing logger must not fail the response
    }
    if (res.headersSent || res.destroyed) {
      res.destroy();
      return;
    }
    if (err instanceof HttpStatusError && err.status === 413) {
      answerAndDrain(req, res, 413, { error: err.message, code: 'LIMIT_EXCEEDED' }, err.headers);
      return;
    }
    if (err instanceof HttpStatusError) {
      sendJson(res, err.status, { error: err.message }, err.headers);
      return;
    }
    const h = toHttpError(err);
    sendJson(res, h.status, h.body, h.headers);
  }

  private registerBuiltins(): void {
    const b = this.backend;
    // first: a literal segment (`/v2/models/stats`) must win over `/v2/models/{model}`
    for (const [method, path, handler] of tritonRoutes(b)) this.route(method, path, (req, res, ctx) => handler(req, res, ctx.params));
    this.route('GET', '/v2/health/live', (_req, res) => {
      const live = b.live();
      sendJson(res, live ? 200 : 503, { live });
    }, 'open');
    this.route('GET', '/v2/health/ready', async (_req, res) => {
      let ready: boolean;
      try {
        ready = (await b.ready()) === true;
      } catch {
        ready = false;
      }
      sendJson(res, ready ? 200 : 503, { ready });
    }, 'open');
    const modelReady: RouteHandler = async (_req, res, ctx) => {
      const name = ctx.params['model'] ?? '';
      const ready = await b.modelReady(name, ctx.params['version'] ?? '');
      sendJson(res, ready ? 200 : 503, { name, ready });
    };
    this.route('GET', '/v2/models/{model}/ready', modelReady);
    this.route('GET', '/v2/models/{model}/versions/{version}/ready', modelReady);
    this.route('GET', '/v2', (_req, res) => {
      const m = b.serverMetadata();
      sendJson(res, 200, { name: m.name, version: m.version, extensions: m.extensions });
    });
    const metadata: RouteHandler = (_req, res, ctx) => {
      const m = b.modelMetadata(ctx.params['model'] ?? '', ctx.params['version'] ?? '');
      sendJson(res, 200, { name: m.name, versions: m.versions, platform: m.platform, inputs: m.inputs, outputs: m.outputs });
    };
    this.route('GET', '/v2/models/{model}', metadata);
    this.route('GET', '/v2/models/{model}/versions/{version}', metadata);
    const infer: RouteHandler = (req, res, ctx) => this.infer(req, res, ctx);
    this.route('POST', '/v2/models/{model}/infer', infer);
    this.route('POST', '/v2/models/{model}/versions/{version}/infer', infer);
  }

  /** Everything before the backend: body, model, tensor, SLO. Failures here are counted by the backend. */
  private async prepareInfer(req: IncomingMessage, model: string, version: string, now: number): Promise<{ decoded: DecodedInfer; rest: DecodedRestInfer; spec: TensorSpec; responseVersion: string }> {
    try {
      const body = await readInferBody(req, this.bodyLimit);
      const meta = this.backend.modelMetadata(model, version);
      const spec = tensorSpecOf(meta);
      const rest = decodeRestInfer(body.json, spec, body.binary);
      const slo = parseSlo(rest.params, {
        now,
        defaultBudgetMs: this.opts.defaultBudgetMs,
        ...(this.opts.defaultSheddable !== undefined ? { defaultSheddable: this.opts.defaultSheddable } : {}),
      });
      const decoded: DecodedInfer = { id: rest.id, model, version, tensor: rest.tensor, slo, outputs: rest.outputs, wantsRaw: false, protocol: 'http', params: rest.params };
      return { decoded, rest, spec, responseVersion: version || meta.versions[0] || '' };
    } catch (err) {
      const counted = err instanceof HttpStatusError ? new SlackserveError(err.status === 413 ? 'LIMIT_EXCEEDED' : 'INPUT_INVALID', err.message) : err;
      try {
        this.backend.recordEdgeFailure?.(model, version, counted, now);
      } catch {
        // counting must not fail the request
      }
      throw err;
    }
  }

  private async infer(req: IncomingMessage, res: ServerResponse, ctx: RouteContext): Promise<void> {
    const model = ctx.params['model'] ?? '';
    const version = ctx.params['version'] ?? '';
    const { decoded, rest, spec, responseVersion } = await this.prepareInfer(req, model, version, this.now());
    const cancel = new CallCancel();
    if (ctx.signal.aborted) cancel.cancel();
    else ctx.signal.addEventListener('abort', cancel.cancel, { once: true });
    const answer = await this.backend.infer(decoded, { cancel });
    if (ctx.signal.aborted) return;
    const out = encodeRestInfer({
      model,
      version: responseVersion,
      id: rest.id,
      batch: rest.tensor.batch,
      classes: spec.classes,
      outputs: rest.outputs,
      answer,
      options: rest.options,
      labels: spec.labels,
    });
    if (out.binary.length === 0) {
      sendJson(res, 200, out.body);
      return;
    }
    // binary tensor data extension: JSON header, then the outputs' bytes in order
    const header = Buffer.from(JSON.stringify(out.body), 'utf8');
    const total = out.binary.reduce((n, b) => n + b.length, header.length);
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'inference-header-content-length': header.length, 'content-length': total });
    for (const b of [header, ...out.binary]) res.write(b);
    res.end();
  }
}
