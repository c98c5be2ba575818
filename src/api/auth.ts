/**
 * Bearer-token authentication shared by the gRPC guard and the HTTP router: token sets loaded once
 * from the configuration, checked in constant time (SHA-256 digests of both sides compared with
 * `crypto.timingSafeEqual`, so neither a token's content nor its length shows in the timing).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Config } from '../config.js';
import { SlackserveError } from '../errors.js';

const digest = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();

/** `a === b`, in time that depends on neither string's content or length. */
export function tokensEqual(a: string, b: string): boolean {
  return timingSafeEqual(digest(a), digest(b));
}

/** Which tokens a route or method asks for: none, the API tokens, or the metrics token. */
export type AccessScope = 'open' | 'api' | 'metrics';

/** A set of accepted bearer tokens; an empty set means "no authentication". */
export class TokenSet {
  private readonly digests: readonly Buffer[];

  constructor(tokens: readonly string[]) {
    this.digests = [...new Set(tokens)].map(digest);
  }

  /** Whether any token is required. */
  get enabled(): boolean {
    return this.digests.length > 0;
  }

  get size(): number {
    return this.digests.length;
  }

  /** True when `presented` is one of the tokens; every stored token is compared (no early exit). */
  accepts(presented: string | undefined): boolean {
    if (presented === undefined) return false;
    const d = digest(presented);
    let ok = false;
    for (const t of this.digests) ok = timingSafeEqual(d, t) || ok;
    return ok;
  }
}

/**
 * The token of an `Authorization` value: `Bearer <token>`, or (when `basic`) the password of
 * `Basic base64(user:password)` (what a browser sends after a Basic challenge).
 */
export function credentialOf(header: string | undefined, basic = false): string | undefined {
  if (header === undefined) return undefined;
  const m = /^\s*(\S+)\s+(\S+)\s*$/.exec(header);
  if (!m) return undefined;
  const scheme = m[1]!.toLowerCase();
  if (scheme === 'bearer') return m[2];
  if (basic && scheme === 'basic') {
    const decoded = Buffer.from(m[2]!, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    return colon >= 0 ? decoded.slice(colon + 1) : undefined;
  }
  return undefined;
}

/** Tokens of a tokens file: one a line, `#` starts a comment, blank lines ignored. */
export function parseTokensFile(text: string): string[] {
  return text
    .split(/\r?\n/)
    .map((line) => line.replace(/#.*$/, '').trim())
    .filter((line) => line.length > 0);
}

/** The API tokens of a configuration: `authTokens` (comma-separated) plus `authTokensFile`. */
export function apiTokensOf(cfg: Pick<Config, 'authTokens' | 'authTokensFile'>): TokenSet {
  const tokens = cfg.authTokens
    .split(',')
    .map((t) => t.trim())
    .filter((t) => t.length > 0);
  if (cfg.authTokensFile !== '') {
    let text: string;
    try {
      text = readFileSync(cfg.authTokensFile, 'utf8');
    } catch (err) {
      throw new SlackserveError('CONFIG_INVALID', `config authTokensFile: cannot read ${cfg.authTokensFile}: ${(err as Error).message}`, { key: 'authTokensFile' });
    }
    const fromFile = parseTokensFile(text);
    if (fromFile.length === 0) throw new SlackserveError('CONFIG_INVALID', `config authTokensFile: ${cfg.authTokensFile} holds no token`, { key: 'authTokensFile' });
    tokens.push(...fromFile);
  }
  return new TokenSet(tokens);
}

/** The metrics token of a configuration (an empty set when unset). */
export function metricsTokensOf(cfg: Pick<Config, 'metricsToken'>): TokenSet {
  return new TokenSet(cfg.metricsToken === '' ? [] : [cfg.metricsToken]);
}

/** The tokens a server checks, by scope. */
export interface AuthTokens {
  readonly api: TokenSet;
  readonly metrics: TokenSet;
}

/**
 * Whether a request with this `Authorization` header may use a route of `scope`: open routes
 * always; API routes when no API token is set or it carries one; metrics routes when no metrics
 * token is set or it carries it (as Bearer, or as a Basic password).
 */
export function authorized(auth: AuthTokens | undefined, scope: AccessScope, header: string | undefined): boolean {
  if (auth === undefined || scope === 'open') return true;
  const set = scope === 'api' ? auth.api : auth.metrics;
  if (!set.enabled) return true;
  return set.accepts(credentialOf(header, scope === 'metrics'));
}

/** The UNAUTHENTICATED error a refused request gets (the challenge goes into WWW-Authenticate). */
export function unauthenticated(scope: AccessScope, header: string | undefined): SlackserveError {
  const what = scope === 'metrics' ? 'the metrics token (metricsToken)' : 'a valid bearer token (authTokens)';
  const why = header === undefined ? 'no credentials' : 'the credentials are not valid';
  return new SlackserveError('UNAUTHENTICATED', `${why}: send ${what} as "authorization: Bearer <token>"`, {
    challenge: scope === 'metrics' ? 'Bearer, Basic realm="slackserve metrics"' : 'Bearer',
  });
}
