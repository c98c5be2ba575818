/** Bearer tokens, the constant-time compare, secret redaction and the security settings' validation. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { apiTokensOf, authorized, credentialOf, metricsTokensOf, parseTokensFile, TokenSet, tokensEqual, unauthenticated } from '../../src/api/auth.js';
import { isOpenGrpcMethod } from '../../src/api/grpc-guard.js';
import { mediaTypeOf } from '../../src/api/http-server.js';
import { toGrpcStatus, toHttpError } from '../../src/api/status.js';
import { loadConfig, redactedConfig, redactUrl } from '../../src/config.js';

describe('tokensEqual (constant time over SHA-256 digests)', () => {
  it('is equality, whatever the lengths', () => {
    expect(tokensEqual('s3cret', 's3cret')).toBe(true);
    expect(tokensEqual('s3cret', 's3creT')).toBe(false);
    expect(tokensEqual('s3cret', 's3cret-longer')).toBe(false);
    expect(tokensEqual('', '')).toBe(true);
    expect(tokensEqual('', 'x')).toBe(false);
    expect(tokensEqual('é', 'é')).toBe(true);
  });
});

describe('TokenSet and credentials', () => {
  it('accepts any of its tokens, nothing else', () => {
    const set = new TokenSet(['a-token', 'b-token', 'a-token']);
    expect(set.enabled).toBe(true);
    expect(set.size).toBe(2);
    expect(set.accepts('a-token')).toBe(true);
    expect(set.accepts('b-token')).toBe(true);
    expect(set.accepts('c-token')).toBe(false);
    expect(set.accepts(undefined)).toBe(false);
    expect(new TokenSet([]).enabled).toBe(false);
  });

  it('reads Bearer (and, for metrics, a Basic password)', () => {
    expect(credentialOf('Bearer abc')).toBe('abc');
    expect(credentialOf('bearer   abc ')).toBe('abc');
    expect(credentialOf('Token abc')).toBeUndefined();
    expect(credentialOf('Bearer')).toBeUndefined();
    expect(credentialOf(undefined)).toBeUndefined();
    const basic = `Basic ${Buffer.from('anyone:pass:word').toString('base64')}`;
    expect(credentialOf(basic)).toBeUndefined();
    expect(credentialOf(basic, true)).toBe('pass:word');
  });

  it('scopes: open always, api/metrics only when their tokens are set', () => {
    const auth = { api: new TokenSet(['api']), metrics: new TokenSet([]) };
    expect(authorized(auth, 'open', undefined)).toBe(true);
    expect(authorized(auth, 'api', undefined)).toBe(false);
    expect(authorized(auth, 'api', 'Bearer nope')).toBe(false);
    expect(authorized(auth, 'api', 'Bearer api')).toBe(true);
    expect(authorized(auth, 'metrics', undefined)).toBe(true); // no metrics token: open
    const withMetrics = { api: new TokenSet([]), metrics: new TokenSet(['m']) };
    expect(authorized(withMetrics, 'api', undefined)).toBe(true);
    expect(authorized(withMetrics, 'metrics', 'Bearer api')).toBe(false);
    expect(authorized(withMetrics, 'metrics', 'Bearer m')).toBe(true);
    expect(authorized(undefined, 'api', undefined)).toBe(true);
  });

  it('UNAUTHENTICATED maps to gRPC UNAUTHENTICATED and HTTP 401 with a challenge', () => {
    expect(toGrpcStatus(unauthenticated('api', undefined))).toMatchObject({ code: 16, errorCode: 'UNAUTHENTICATED' });
    const h = toHttpError(unauthenticated('api', 'Bearer x'));
    expect(h.status).toBe(401);
    expect(h.headers['www-authenticate']).toBe('Bearer');
    expect(h.body.error).toMatch(/not valid/);
    expect(toHttpError(unauthenticated('metrics', undefined)).headers['www-authenticate']).toMatch(/^Bearer, Basic/);
  });

  it('tokens file: one a line, # comments, blanks ignored; merged with authTokens', () => {
    expect(parseTokensFile('# tokens\nalpha\n\n  beta  # the second\r\n#gamma\n')).toEqual(['alpha', 'beta']);
    const dir = mkdtempSync(join(tmpdir(), 'tokens-'));
    const file = join(dir, 'tokens');
    writeFileSync(file, '# ops\nfrom-file\n');
    const set = apiTokensOf({ authTokens: ' env-1 , env-2,', authTokensFile: file });
    expect(set.size).toBe(3);
    for (const t of ['env-1', 'env-2', 'from-file']) expect(set.accepts(t)).toBe(true);
    expect(() => apiTokensOf({ authTokens: '', authTokensFile: join(dir, 'missing') })).toThrow(/authTokensFile/);
    writeFileSync(file, '# only a comment\n');
    expect(() => apiTokensOf({ authTokens: '', authTokensFile: file })).toThrow(/no token/);
    expect(apiTokensOf({ authTokens: '', authTokensFile: '' }).enabled).toBe(false);
    expect(metricsTokensOf({ metricsToken: '' }).enabled).toBe(false);
  });

  it('health methods are open on gRPC, the rest are not', () => {
    expect(isOpenGrpcMethod('/grpc.health.v1.Health/Check')).toBe(true);
    expect(isOpenGrpcMethod('/grpc.health.v1.Health/Watch')).toBe(true);
    expect(isOpenGrpcMethod('/inference.GRPCInferenceService/ServerLive')).toBe(true);
    expect(isOpenGrpcMethod('/inference.GRPCInferenceService/ServerReady')).toBe(true);
    expect(isOpenGrpcMethod('/inference.GRPCInferenceService/ModelInfer')).toBe(false);
    expect(isOpenGrpcMethod('/inference.GRPCInferenceService/ModelMetadata')).toBe(false);
  });

  it('media types', () => {
    expect(mediaTypeOf('Application/JSON; charset=utf-8')).toBe('application/json');
    expect(mediaTypeOf(undefined)).toBe('');
  });
});

describe('security settings', () => {
  it('binds 127.0.0.1 by default; TLS files go together', () => {
    const c = loadConfig({ env: {} });
    expect(c.host).toBe('127.0.0.1');
    expect(c.authTokens).toBe('');
    expect(c.tlsCert).toBe('');
    expect(() => loadConfig({ env: { SLACKSERVE_TLS_CERT: '/x.pem' } })).toThrow(/tlsCert and tlsKey go together/);
    expect(() => loadConfig({ env: { SLACKSERVE_TLS_KEY: '/x.key' } })).toThrow(/tlsCert and tlsKey go together/);
    expect(() => loadConfig({ env: { SLACKSERVE_TLS_CLIENT_CA: '/ca.pem' } })).toThrow(/mutual TLS needs/);
    expect(loadConfig({ env: { SLACKSERVE_TLS_CERT: '/x.pem', SLACKSERVE_TLS_KEY: '/x.key', SLACKSERVE_TLS_CLIENT_CA: '/ca.pem' } }).tlsClientCa).toBe('/ca.pem');
  });

  it('redacts URL passwords', () => {
    expect(redactUrl('redis://:secret@host:6379')).toBe('redis://:***@host:6379');
    expect(redactUrl('redis://user:secret@host:6379/0')).toBe('redis://user:***@host:6379/0');
    expect(redactUrl('rediss://user:p@ss:w@rd@host')).toBe('rediss://user:***@host');
    expect(redactUrl('redis://127.0.0.1:6379')).toBe('redis://127.0.0.1:6379');
    expect(redactUrl('redis://user@host')).toBe('redis://user@host');
    expect(redactUrl('embedded')).toBe('embedded');
  });

  it('redactedConfig hides every secret and nothing else', () => {
    const c = loadConfig({
      env: { SLACKSERVE_REDIS_URL: 'redis://user:pw-123@10.0.0.1:6379', SLACKSERVE_AUTH_TOKENS: 'tok-1,tok-2', SLACKSERVE_METRICS_TOKEN: 'mtok' },
    });
    const r = redactedConfig(c);
    expect(r.redisUrl).toBe('redis://user:***@10.0.0.1:6379');
    expect(r.authTokens).toBe('***');
    expect(r.metricsToken).toBe('***');
    expect(r.host).toBe('127.0.0.1');
    const text = JSON.stringify(r);
    for (const s of ['pw-123', 'tok-1', 'tok-2', 'mtok']) expect(text).not.toContain(s);
    expect(redactedConfig(loadConfig({ env: {} })).authTokens).toBe('');
  });
});
