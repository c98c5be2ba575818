/**
 * Where Redis is and how to connect to it: one URL (`redis://[user:password@]host:port[/db]`), or
 * Redis Sentinels that name the current master (ioredis's sentinel mode: it asks a sentinel for
 * the master's address on every (re)connect, checks the role it finds, and with the failover
 * detector drops its connection as soon as a sentinel announces `+switch-master`). Every Redis
 * connection of the queue and the outcome bus is made here.
 */
import { Redis, type RedisOptions } from 'ioredis';
import { backoffMs } from './redis-wire.js';

export interface SentinelAddress {
  readonly host: string;
  readonly port: number;
}

/** A Redis URL, or Sentinels plus the URL's credentials and db for the master they name. */
export interface RedisTarget {
  /** redis://[user:password@]host:port[/db]; with sentinels only user, password and db count. */
  readonly url: string;
  readonly sentinels?: readonly SentinelAddress[] | undefined;
  /** The master's name at the sentinels (`sentinel monitor <name> ...`). */
  readonly sentinelName?: string | undefined;
  readonly sentinelPassword?: string | undefined;
  /**
   * PEM CA bundle that Redis's (and the sentinels') TLS certificates must chain to. TLS itself is
   * turned on by a `rediss://` URL (with sentinels too: then both the sentinels and the master are
   * reached over TLS); without a CA, the system's roots verify.
   */
  readonly tlsCa?: string | Buffer | undefined;
}

/** Reconnects back off to at most this with Sentinels: a failover is expected to end in seconds. */
const SENTINEL_MAX_BACKOFF_MS = 1_000;

export const targetOf = (t: RedisTarget | string): RedisTarget => (typeof t === 'string' ? { url: t } : t);

export const isSentinel = (t: RedisTarget): boolean => (t.sentinels?.length ?? 0) > 0;

/** What logs and clients may be told about the target: addresses, never credentials. */
export function targetAddress(t: RedisTarget): string {
  if (isSentinel(t)) return `master "${t.sentinelName ?? 'mymaster'}" via sentinels ${(t.sentinels ?? []).map((s) => `${s.host}:${s.port}`).join(',')}`;
  try {
    const u = new URL(t.url);
    return `${u.hostname || '127.0.0.1'}:${u.port || '6379'}`;
  } catch {
    return 'the configured URL';
  }
}

/** user, password and db of a redis:// URL (what the master needs in sentinel mode). */
function credentialsOf(url: string): Pick<RedisOptions, 'username' | 'password' | 'db'> {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return {};
  }
  const db = Number(u.pathname.replace(/^\//, ''));
  return {
    ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
    ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
    ...(u.pathname.length > 1 && Number.isInteger(db) ? { db } : {}),
  };
}

/**
 * A connection with the queue's defaults: RESP2 (RESP3's 'legacy' mapping flattens XREADGROUP's
 * map reply; RESP2 keeps the documented [[key, entries]] shape on every server version), fail fast
 * when Redis is down (a queued command fails after one failed reconnect retry), reconnection
 * backing off 100 ms doubling to 5 s (1 s with Sentinels). A `READONLY` reply (this connection
 * reached a replica, e.g. a demoted master) reconnects and resends the command: the sentinel then
 * names the new master. `extra` overrides any of these.
 */
export function connectRedis(target: RedisTarget | string, extra: Partial<RedisOptions> = {}): Redis {
  const t = targetOf(target);
  const common: RedisOptions = {
    protocol: 2,
    maxRetriesPerRequest: 1,
    connectTimeout: 2_000,
    reconnectOnError: (err) => (err.message.startsWith('READONLY') ? 2 : false),
  };
  // rediss:// turns TLS on; the CA (if any) verifies the server's certificate
  const tls = t.url.toLowerCase().startsWith('rediss://') ? { ...(t.tlsCa !== undefined ? { ca: t.tlsCa } : {}) } : undefined;
  if (!isSentinel(t)) {
    const c = new Redis(t.url, { ...common, ...(tls ? { tls } : {}), retryStrategy: (times) => backoffMs(times), ...extra, lazyConnect: true });
    c.on('error', () => {}); // reported through the failing commands and ready(), not as events
    return connectQuietly(c, extra);
  }
  const c = new Redis({
    ...common,
    ...credentialsOf(t.url),
    sentinels: (t.sentinels ?? []).map((s) => ({ host: s.host, port: s.port })),
    name: t.sentinelName ?? 'mymaster',
    role: 'master',
    ...(t.sentinelPassword ? { sentinelPassword: t.sentinelPassword } : {}),
    // TLS to the sentinels and to the master they name
    ...(tls ? { enableTLSForSentinelMode: true, tls, sentinelTLS: tls } : {}),
    failoverDetector: true,
    retryStrategy: (times) => backoffMs(times, 100, SENTINEL_MAX_BACKOFF_MS),
    // all sentinels unreachable: try them again on the same schedule
    sentinelRetryStrategy: (times) => backoffMs(times, 100, SENTINEL_MAX_BACKOFF_MS),
    sentinelCommandTimeout: 1_000,
    ...extra,
    lazyConnect: true,
  });
  c.on('error', () => {});
  return connectQuietly(c, extra);
}

/**
 * ioredis listens to its socket's first 'error' only (`stream.once`). A TLS socket whose handshake
 * failed can emit a second one (the server's alert after the client refused its certificate), and
 * an 'error' event nobody listens to ends the process: seen in CI, a frontend given the wrong
 * `redisTlsCa` exited. So every socket the connection opens (first connect and reconnects) gets a
 * listener that keeps the later errors quiet; the first is reported as before. Then it connects,
 * unless the caller asked for `lazyConnect`.
 */
function connectQuietly(c: Redis, extra: Partial<RedisOptions>): Redis {
  reviveUnlessClosed(c);
  const connector = (c as unknown as { connector?: { connect: (...a: unknown[]) => Promise<NodeJS.EventEmitter> } }).connector;
  if (connector) {
    const connect = connector.connect.bind(connector);
    connector.connect = async (...a: unknown[]) => {
      const stream = await connect(...a);
      stream.on('error', () => undefined);
      return stream;
    };
  }
  if (extra.lazyConnect !== true) c.connect().catch(() => undefined); // failures surface as 'error' and in commands
  return c;
}

/** After an unasked-for end, how long before connecting again. */
const REVIVE_AFTER_MS = 100;

/**
 * A connection we did not close never stays closed. ioredis ends a connection for good (status
 * "end", no retry) when its connector is disconnected while a connect is in flight: the connect
 * rejects "Connection is closed." and nothing schedules another. With Sentinels that is what the
 * failover detector does when a sentinel announces +switch-master while the client is still
 * resolving the master after losing the old one: seen in redis-sentinel.test.ts under load, where
 * every connection of the frontend and the worker ended at once and the frontend answered
 * UNAVAILABLE for the rest of the run. So an 'end' that neither `disconnect()` nor `quit()` asked
 * for connects again.
 */
function reviveUnlessClosed(c: Redis): void {
  let closing = false;
  const disconnect = c.disconnect.bind(c);
  c.disconnect = (reconnect = false): void => {
    if (!reconnect) closing = true;
    disconnect(reconnect);
  };
  const quit = c.quit.bind(c);
  c.quit = ((...a: Parameters<typeof quit>) => {
    closing = true;
    return quit(...a);
  }) as typeof c.quit;
  c.on('end', () => {
    if (closing) return;
    setTimeout(() => {
      if (!closing && c.status === 'end') c.connect().catch(() => undefined);
    }, REVIVE_AFTER_MS).unref();
  });
}
