/**
 * Security over real sockets against real server processes: bearer tokens on gRPC and HTTP (health
 * open, /metrics behind its own token), content types on infer, secrets kept out of the startup
 * log and `slackserve config`, TLS and mutual TLS (certificates made with openssl), and the
 * warning a non-loopback bind without tokens earns.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OipClient } from '../../src/client/oip-client.js';
import { deleteKeysUnder } from '../../src/queue/redis-keys.js';
import { Catalogue } from '../../src/supernet/catalogue.js';
import { loadSample, SUPERNET_DIR } from '../helpers.js';
import { type ServeProcess, spawnServe } from '../serve-process.js';

const cat = Catalogue.load(SUPERNET_DIR);
const { x } = loadSample(cat);
const MODEL = cat.manifest.name;
const INPUT = cat.manifest.input.name;
const REDIS_PASSWORD = 'hunter2-redis-pw';
const TOKENS = ['tok-alpha-123', 'tok-beta-456'];
const FILE_TOKEN = 'tok-from-file-789';
const METRICS_TOKEN = 'metrics-tok-xyz';
const prefixes: string[] = [];
const prefix = (tag: string): string => {
  const p = `sec-test-${tag}-${process.pid}-${Date.now()}`;
  prefixes.push(p);
  return p;
};

/** Removes the Redis keys this file's servers left under their queue prefixes (bounded scans). */
afterAll(async () => {
  const redis = new Redis('redis://127.0.0.1:6379', { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await redis.connect();
    for (const p of prefixes) await deleteKeysUnder(redis, p);
  } finally {
    redis.disconnect();
  }
});

const tmp = mkdtempSync(join(tmpdir(), 'slackserve-sec-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

interface Reply {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: string;
}

/** One HTTP(S) request with full control of the headers (and TLS options). */
function call(
  port: number,
  path: string,
  o: { method?: string; headers?: Record<string, string>; body?: string; tls?: { ca: Buffer; cert?: Buffer; key?: Buffer } } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const base = { host: '127.0.0.1', port, path, method: o.method ?? 'GET', headers: o.headers ?? {}, timeout: 10_000 };
    const onRes = (res: import('node:http').IncomingMessage): void => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    };
    const req = o.tls ? httpsRequest({ ...base, ca: o.tls.ca, cert: o.tls.cert, key: o.tls.key, agent: false }, onRes) : httpRequest({ ...base, agent: false }, onRes);
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end(o.body);
  });
}

const inferBody = JSON.stringify({
  inputs: [{ name: INPUT, shape: [1, 1, 28, 28], datatype: 'FP32', data: Array.from(x.slice(0, 784)) }],
  parameters: { 'slackserve.latency_budget_ms': 10_000 },
});

const grpcCode = (p: Promise<unknown>): Promise<number> =>
  p.then(
    () => grpc.status.OK,
    (e: grpc.ServiceError) => e.code,
  );

/** grpc.health.v1.Health/Check with service '' (an empty message), raw: resolves with the status code. */
function healthCheck(port: number): Promise<{ code: number; serving?: number }> {
  const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  return new Promise((resolve) => {
    client.makeUnaryRequest(
      '/grpc.health.v1.Health/Check',
      (b: Buffer) => b,
      (b: Buffer) => b,
      Buffer.alloc(0),
      { deadline: Date.now() + 10_000 },
      (err, res) => {
        client.close();
        resolve(err ? { code: err.code } : { code: 0, ...(res && res.length >= 2 ? { serving: res[1]! } : {}) });
      },
    );
  });
}

describe('bearer tokens, content types and redaction (serve, Redis queue with a password)', () => {
  let s: ServeProcess;
  beforeAll(async () => {
    const tokensFile = join(tmp, 'tokens');
    writeFileSync(tokensFile, `# deploy tokens\n${FILE_TOKEN}\n`);
    s = await spawnServe('serve', ['--threads', '1', '--policy', 'static-smallest', '--redis', `redis://:${REDIS_PASSWORD}@127.0.0.1:6379`, '--auth-tokens-file', tokensFile], {
      SLACKSERVE_AUTH_TOKENS: TOKENS.join(','),
      SLACKSERVE_METRICS_TOKEN: METRICS_TOKEN,
      SLACKSERVE_QUEUE_PREFIX: prefix('auth'),
    });
  }, 60_000);
  afterAll(async () => s?.stop());

  it('HTTP: no token / wrong token -> 401 with WWW-Authenticate: Bearer; a right token -> 200', async () => {
    const none = await call(s.httpPort, `/v2/models/${MODEL}`);
    expect(none.status).toBe(401);
    expect(none.headers['www-authenticate']).toBe('Bearer');
    expect(JSON.parse(none.body)).toMatchObject({ code: 'UNAUTHENTICATED' });
    const wrong = await call(s.httpPort, `/v2/models/${MODEL}`, { headers: { authorization: 'Bearer tok-alpha-12' } });
    expect(wrong.status).toBe(401);
    expect((await call(s.httpPort, `/v2/models/${MODEL}`, { headers: { authorization: `Basic ${Buffer.from(`u:${TOKENS[0]!}`).toString('base64')}` } })).status).toBe(401);
    for (const t of [...TOKENS, FILE_TOKEN]) expect((await call(s.httpPort, `/v2/models/${MODEL}`, { headers: { authorization: `Bearer ${t}` } })).status).toBe(200);
    const unauthInfer = await call(s.httpPort, `/v2/models/${MODEL}/infer`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: inferBody });
    expect(unauthInfer.status).toBe(401);
    const ok = await call(s.httpPort, `/v2/models/${MODEL}/infer`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKENS[1]!}` },
      body: inferBody,
    });
    expect(ok.status, ok.body).toBe(200);
    expect(JSON.parse(ok.body).outputs.length).toBeGreaterThan(0);
  });

  it('every refused inference call is counted: unauthenticated calls raise nv_inference_request_failure', async () => {
    const failures = async (): Promise<number> => {
      const m = await call(s.httpPort, '/metrics', { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
      expect(m.status).toBe(200);
      let sum = 0;
      for (const line of m.body.split('\n')) if (line.startsWith('nv_inference_request_failure{')) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
      return sum;
    };
    const before = await failures();
    for (let i = 0; i < 3; i++)
      expect((await call(s.httpPort, `/v2/models/${MODEL}/infer`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: inferBody })).status).toBe(401);
    expect((await failures()) - before).toBe(3);
  });

  it('HTTP health stays open', async () => {
    expect((await call(s.httpPort, '/v2/health/live')).status).toBe(200);
    expect((await call(s.httpPort, '/v2/health/ready')).status).toBe(200);
  });

  it('/metrics and /dashboard need the metrics token (an API token is not enough)', async () => {
    const none = await call(s.httpPort, '/metrics');
    expect(none.status).toBe(401);
    expect(none.headers['www-authenticate']).toMatch(/^Bearer/);
    expect((await call(s.httpPort, '/metrics', { headers: { authorization: `Bearer ${TOKENS[0]!}` } })).status).toBe(401);
    const ok = await call(s.httpPort, '/metrics', { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
    expect(ok.status).toBe(200);
    expect(ok.body).toMatch(/slackserve_/);
    expect((await call(s.httpPort, '/dashboard')).status).toBe(401);
    const basic = `Basic ${Buffer.from(`admin:${METRICS_TOKEN}`).toString('base64')}`;
    expect((await call(s.httpPort, '/dashboard', { headers: { authorization: basic } })).status).toBe(200);
  });

  it('infer accepts application/json only (text/plain, form-encoded, none -> 415), or the binary extension, whose custom header browsers preflight', async () => {
    const auth = { authorization: `Bearer ${TOKENS[0]!}` };
    for (const type of ['text/plain', 'text/plain;charset=UTF-8', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', undefined]) {
      const r = await call(s.httpPort, `/v2/models/${MODEL}/infer`, { method: 'POST', headers: { ...auth, ...(type ? { 'content-type': type } : {}) }, body: inferBody });
      expect(r.status, String(type)).toBe(415);
      expect(JSON.parse(r.body).error).toMatch(/unsupported content type .*application\/json/);
    }
    const binary = await call(s.httpPort, `/v2/models/${MODEL}/infer`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/octet-stream', 'inference-header-content-length': '10' },
      body: '{"inputs":[]}',
    });
    // read as the binary tensor data extension (10 bytes of JSON header): not a 415
    expect(binary.status).toBe(400);
    expect(JSON.parse(binary.body).error).toMatch(/^invalid JSON body/);
    const json = await call(s.httpPort, `/v2/models/${MODEL}/infer`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json; charset=utf-8' }, body: inferBody });
    expect(json.status).toBe(200);
  });

  it('gRPC: no token / wrong token -> UNAUTHENTICATED (before the message is read); a right token -> the answer; health open', async () => {
    const req = { model: MODEL, images: x.slice(0, 784), shape: [1, 1, 28, 28], inputName: INPUT, params: { 'slackserve.latency_budget_ms': 10_000 } };
    const anon = new OipClient(`127.0.0.1:${s.grpcPort}`);
    const wrong = new OipClient(`127.0.0.1:${s.grpcPort}`, {}, { token: 'tok-alpha-1234' });
    const right = new OipClient(`127.0.0.1:${s.grpcPort}`, {}, { token: FILE_TOKEN });
    try {
      expect(await grpcCode(anon.infer(req))).toBe(grpc.status.UNAUTHENTICATED);
      expect(await grpcCode(wrong.infer(req))).toBe(grpc.status.UNAUTHENTICATED);
      const err = await anon.infer(req).catch((e: grpc.ServiceError) => e);
      expect((err as grpc.ServiceError).details).toMatch(/bearer token/);
      expect((err as grpc.ServiceError).metadata.get('slackserve-error-code')).toEqual(['UNAUTHENTICATED']);
      const r = await right.infer(req);
      expect(r.classes).toHaveLength(1);
      expect((await anon.serverLive()).live).toBe(true);
      expect((await anon.serverReady()).ready).toBe(true);
      expect(await healthCheck(s.grpcPort)).toEqual({ code: 0, serving: 1 });
      // undecodable bytes without a token: UNAUTHENTICATED, not INVALID_ARGUMENT (never decoded)
      const raw = new grpc.Client(`127.0.0.1:${s.grpcPort}`, grpc.credentials.createInsecure());
      const code = await new Promise<number>((resolve) =>
        raw.makeUnaryRequest('/inference.GRPCInferenceService/ModelInfer', (b: Buffer) => b, (b: Buffer) => b, Buffer.from([0xff, 0xff, 0xff]), (e) => resolve(e ? e.code : 0)),
      );
      raw.close();
      expect(code).toBe(grpc.status.UNAUTHENTICATED);
    } finally {
      for (const c of [anon, wrong, right]) c.close();
    }
  });

  it('the startup log holds no secret: the Redis URL is redacted', () => {
    const out = s.output();
    expect(out).toContain(`redis://:***@127.0.0.1:6379`);
    expect(out).toMatch(/auth 3 token\(s\)/);
    expect(out).toContain('host 127.0.0.1');
    for (const secret of [REDIS_PASSWORD, ...TOKENS, FILE_TOKEN, METRICS_TOKEN]) expect(out).not.toContain(secret);
  });
});

describe('slackserve config', () => {
  it('prints secrets redacted, and binds 127.0.0.1 by default', () => {
    const r = spawnSync(process.execPath, ['bin/slackserve.js', 'config'], {
      encoding: 'utf8',
      env: { ...process.env, SLACKSERVE_HOST: '', SLACKSERVE_REDIS_URL: `redis://admin:${REDIS_PASSWORD}@127.0.0.1:6379`, SLACKSERVE_AUTH_TOKENS: TOKENS.join(','), SLACKSERVE_METRICS_TOKEN: METRICS_TOKEN },
    });
    expect(r.status, r.stderr).toBe(0);
    const c = JSON.parse(r.stdout) as Record<string, unknown>;
    expect(c['redisUrl']).toBe('redis://admin:***@127.0.0.1:6379');
    expect(c['authTokens']).toBe('***');
    expect(c['metricsToken']).toBe('***');
    expect(c['host']).toBe('127.0.0.1');
    for (const secret of [REDIS_PASSWORD, ...TOKENS, METRICS_TOKEN]) expect(r.stdout + r.stderr).not.toContain(secret);
  });
});

describe('TLS and mutual TLS (frontends; certificates from openssl)', () => {
  const pem = (name: string): Buffer => readFileSync(join(tmp, name));
  let ca: Buffer;
  let clientCert: Buffer;
  let clientKey: Buffer;
  let tls: ServeProcess;
  let mtls: ServeProcess;

  beforeAll(async () => {
    const ssl = (...args: string[]): void => void execFileSync('openssl', args, { cwd: tmp, stdio: 'ignore' });
    const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
    ssl('req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '1', '-subj', '/CN=slackserve test CA');
    writeFileSync(join(tmp, 'server.ext'), 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
    writeFileSync(join(tmp, 'client.ext'), 'extendedKeyUsage=clientAuth\n');
    for (const [name, cn] of [
      ['server', '127.0.0.1'],
      ['client', 'test client'],
    ] as const) {
      ssl('req', ...ec, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`);
      ssl('x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${name}.pem`, '-days', '1', '-extfile', `${name}.ext`);
    }
    ca = pem('ca.pem');
    clientCert = pem('client.pem');
    clientKey = pem('client.key');
    const files = ['--redis', 'redis://127.0.0.1:6379', '--tls-cert', join(tmp, 'server.pem'), '--tls-key', join(tmp, 'server.key')];
    tls = await spawnServe('frontend', files, { SLACKSERVE_QUEUE_PREFIX: prefix('tls') });
    mtls = await spawnServe('frontend', [...files, '--tls-client-ca', join(tmp, 'ca.pem')], { SLACKSERVE_QUEUE_PREFIX: prefix('mtls') });
  }, 60_000);
  afterAll(async () => {
    await tls?.stop();
    await mtls?.stop();
  });

  it('gRPC and HTTPS succeed with the CA; plaintext to a TLS port fails', async () => {
    expect(tls.output()).toMatch(/, TLS[^ ]/);
    const secure = new OipClient(`127.0.0.1:${tls.grpcPort}`, {}, { rootCa: ca });
    const plain = new OipClient(`127.0.0.1:${tls.grpcPort}`);
    try {
      expect((await secure.serverLive()).live).toBe(true);
      expect(await grpcCode(plain.serverLive())).not.toBe(grpc.status.OK);
    } finally {
      secure.close();
      plain.close();
    }
    const ok = await call(tls.httpPort, '/v2/health/live', { tls: { ca } });
    expect(ok.status).toBe(200);
    await expect(call(tls.httpPort, '/v2/health/live')).rejects.toThrow();
  });

  it('mutual TLS: without a client certificate refused, with one accepted', async () => {
    expect(mtls.output()).toContain('TLS (mutual)');
    const anonymous = new OipClient(`127.0.0.1:${mtls.grpcPort}`, {}, { rootCa: ca });
    const withCert = new OipClient(`127.0.0.1:${mtls.grpcPort}`, {}, { rootCa: ca, cert: clientCert, key: clientKey });
    try {
      expect(await grpcCode(anonymous.serverLive())).toBe(grpc.status.UNAVAILABLE);
      expect((await withCert.serverLive()).live).toBe(true);
    } finally {
      anonymous.close();
      withCert.close();
    }
    await expect(call(mtls.httpPort, '/v2/health/live', { tls: { ca } })).rejects.toThrow();
    const ok = await call(mtls.httpPort, '/v2/health/live', { tls: { ca, cert: clientCert, key: clientKey } });
    expect(ok.status).toBe(200);
  });
});

describe('bind address', () => {
  it('--host 0.0.0.0 without tokens logs a warning (bound briefly, stopped at once)', async () => {
    const s = await spawnServe('frontend', ['--host', '0.0.0.0', '--redis', 'redis://127.0.0.1:6379'], { SLACKSERVE_QUEUE_PREFIX: prefix('bind') });
    try {
      expect(s.output()).toMatch(/WARNING: gRPC and HTTP bind 0\.0\.0\.0 without authTokens/);
      expect(s.output()).toContain('host 0.0.0.0');
    } finally {
      await s.stop();
    }
  });
});

describe('worker metrics port', () => {
  it('/metrics needs the metrics token; health stays open', async () => {
    const child = spawn(
      process.execPath,
      ['bin/slackserve.js', 'worker', '--redis', 'redis://127.0.0.1:6379', '--metrics-port', '0', '--threads', '1', '--policy', 'static-smallest', '--supernet', SUPERNET_DIR],
      { env: { ...process.env, SLACKSERVE_METRICS_TOKEN: METRICS_TOKEN, SLACKSERVE_QUEUE_PREFIX: prefix('worker') }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<void>((res) => child.once('exit', () => res()));
    try {
      const port = await new Promise<number>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`worker did not start in 30 s:\n${out}`)), 30_000);
        const onData = (): void => {
          const m = /metrics :(\d+)/.exec(out);
          if (!m) return;
          clearTimeout(timer);
          resolve(Number(m[1]));
        };
        child.stdout.on('data', onData);
        child.once('exit', () => {
          clearTimeout(timer);
          reject(new Error(`worker exited:\n${out}`));
        });
      });
      const none = await call(port, '/metrics');
      expect(none.status).toBe(401);
      expect(none.headers['www-authenticate']).toMatch(/^Bearer/);
      expect((await call(port, '/metrics', { headers: { authorization: 'Bearer nope' } })).status).toBe(401);
      const ok = await call(port, '/metrics', { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
      expect(ok.status).toBe(200);
      expect((await call(port, '/v2/health/live')).status).toBe(200);
      expect(out).not.toContain(METRICS_TOKEN);
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    }
  }, 60_000);
});
