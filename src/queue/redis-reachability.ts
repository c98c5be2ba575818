/**
 * Whether a Redis queue handle can reach Redis, and what it does when that changes: one log line
 * per change, the backend up/down listeners, waiting out a failover, and, on each (re)connect, the
 * check whether Redis restarted or Sentinel promoted another master and lost requests this handle
 * enqueued. The state is the command connection's (this class listens to its events); the
 * request and reply sides (RedisQueue, RedisReplies) ask it whether Redis is down and turn their
 * Redis failures into client errors through fail().
 */
import type { Redis } from 'ioredis';
import { SlackserveError } from '../errors.js';
import { backend } from './redis-wire.js';

/**
 * A command connection whose probe PING has gone unanswered this long is taken for stuck on a
 * server that stopped answering with its sockets open (a frozen master, a half-open TCP link)
 * and reconnected; Redis answers a PING in well under a millisecond when it runs at all.
 */
export const STUCK_AFTER_MS = 1_500;
/** A failing command (Redis reachable) is logged at most this often per distinct message. */
const COMMAND_ERROR_LOG_EVERY_MS = 10_000;
/** What the reachability state uses of its queue handle. */
export interface ReachabilityHost {
  /** The auto-pipelined command connection (its events drive the state). */
  readonly cmd: Redis;
  /** The request stream's key. */
  readonly key: string;
  /** host:port of Redis (no credentials): what clients and the log are told. */
  readonly address: string;
  /** How long ready() waits for Redis's PONG. */
  readonly readyTimeoutMs: number;
  /** Reached through Sentinels: a new run_id is then a master change, not only a restart. */
  readonly sentinel: boolean;
  /** Server log: one line per change of Redis's reachability, and the driver's error text. */
  readonly log: (line: string) => void;
  /** Frontend: request id -> stream entry id of the requests it enqueued (lost ones are removed). */
  readonly entries: Map<string, { readonly entry: string }>;
  /** Of `ids`, those answered in a reply stream past what the reply reader has read. */
  answeredAmong(ids: readonly string[]): Promise<Set<string>>;
  /** Redis became unreachable or reachable: answers cached from before are stale. */
  changed(): void;
  /** Reachable again after an outage, before the restart check. */
  reconnected(): void;
  /** Reachable again after an outage, and the restart check has run. */
  recovered(): void;
  closed(): boolean;
}

export class RedisReachability {
  /** Epoch ms since when Redis has been unreachable; undefined while reachable (or not yet tried). */
  private downSince: number | undefined;
  /** Redis's run_id as last seen: a new one means Redis restarted (and may have lost everything). */
  private runId: string | undefined;
  /** Set from a reconnect until the restart check has run: reply streams are not recreated meanwhile. */
  private restartCheck = false;
  private readonly upListeners = new Set<() => void>();
  private readonly downListeners = new Set<() => void>();
  private readonly lostListeners = new Set<(ids: readonly string[], cause: string) => void>();
  private readonly commandErrorsLogged = new Map<string, number>();
  /** When the probe PING now unanswered was sent (undefined: none outstanding). */
  private probeSentAt: number | undefined;
  /** Since when the command connection's socket has been open without the handshake answered. */
  private handshakeSince: number | undefined;
  /** The stuck-server reasons logged in this outage (cleared once Redis answers again). */
  private readonly stuckLogged = new Set<string>();

  constructor(private readonly h: ReachabilityHost) {
    // The command connection's state is Redis's reachability, logged once per change.
    h.cmd.on('error', (e: unknown) => this.markDown(e));
    h.cmd.on('close', () => this.markDown(new Error('connection lost')));
    h.cmd.on('ready', () => this.markUp());
  }

  /** Redis is known unreachable (since the command connection failed, until it is ready again). */
  get down(): boolean {
    return this.downSince !== undefined;
  }

  /** From a reconnect until the restart check has run. */
  get checkingRestart(): boolean {
    return this.restartCheck;
  }

  private markDown(e: unknown): void {
    if (this.h.closed() || this.downSince !== undefined) return;
    this.downSince = Date.now();
    this.h.changed();
    const why = e instanceof Error ? e.message : String(e);
    this.h.log(`redis at ${this.h.address} unreachable: ${why}, retrying (backoff 100 ms doubling to 5 s)`);
    for (const l of this.downListeners) l();
  }

  private markUp(): void {
    if (this.h.closed()) return;
    const since = this.downSince;
    this.downSince = undefined;
    this.stuckLogged.clear();
    this.h.changed();
    if (since !== undefined) {
      this.h.log(`redis at ${this.h.address} reachable again after ${((Date.now() - since) / 1000).toFixed(1)} s`);
      this.h.reconnected();
    }
    this.restartCheck = true;
    void this.checkRestart()
      .catch((e: unknown) => this.logCommandError(e))
      .finally(() => {
        this.restartCheck = false;
        if (since !== undefined) this.h.recovered();
        for (const l of this.upListeners) l();
      });
  }

  /**
   * On (re)connect: if this is another Redis than before (new run_id: it restarted, or Sentinel
   * promoted a replica), writes the old one had not persisted or replicated are gone, among them
   * possibly stream entries of requests this handle enqueued: those will never be answered, so
   * the frontend is told (onLost) instead of letting them wait for deadline + grace. An entry
   * missing from the stream may also have been answered and acked (the ack deletes it); its reply
   * was written before the ack, so it is in the reply stream: read after the request stream, the
   * reply stream holds it, and only ids answered neither there nor already count as lost. The
   * check reads both streams itself instead of waiting for the reply reader (its own connection,
   * which may still be reconnecting): a lost request is queued again within a few round trips of
   * the reconnect, while its deadline still allows (measured: docs/queue.md).
   */
  private async checkRestart(): Promise<void> {
    const { cmd, entries } = this.h;
    const info = await cmd.info('server');
    const runId = /run_id:(\w+)/.exec(info)?.[1];
    const before = this.runId;
    this.runId = runId;
    if (before === undefined || runId === before || entries.size === 0) return;
    const ids = [...entries.keys()];
    const found = await Promise.all(ids.map((id) => cmd.xrange(this.h.key, entries.get(id)?.entry ?? '0-0', entries.get(id)?.entry ?? '0-0')));
    const missing = ids.filter((_id, i) => (found[i] ?? []).length === 0);
    if (missing.length === 0) return;
    const answered = await this.h.answeredAmong(missing);
    const lost = missing.filter((id) => entries.has(id) && !answered.has(id));
    if (lost.length === 0) return;
    for (const id of lost) entries.delete(id);
    const sentinel = this.h.sentinel;
    const some = lost.slice(0, 5).join(', ') + (lost.length > 5 ? ', ...' : '');
    this.h.log(`redis at ${this.h.address} ${sentinel ? 'changed master (failover or restart)' : 'restarted'} and lost ${lost.length} queued request(s): ${some}`);
    for (const l of this.lostListeners) l(lost, sentinel ? 'redis master changed' : 'redis restarted');
  }

  /** A command failed while Redis is reachable: its text goes to the log (rate-limited), never to clients. */
  private logCommandError(e: unknown): void {
    if (this.downSince !== undefined || this.h.closed()) return;
    const msg = e instanceof Error ? e.message : String(e);
    const now = Date.now();
    const last = this.commandErrorsLogged.get(msg);
    if (last !== undefined && now - last < COMMAND_ERROR_LOG_EVERY_MS) return;
    if (this.commandErrorsLogged.size > 100) this.commandErrorsLogged.clear();
    this.commandErrorsLogged.set(msg, now);
    this.h.log(`redis at ${this.h.address}: command failed: ${msg}`);
  }

  /** The client-facing error for a Redis failure; the driver's text goes to the log. */
  fail(err: unknown): SlackserveError {
    if (err instanceof SlackserveError) return err;
    this.logCommandError(err);
    return backend(err, this.h.address);
  }

  /** Resolves true once Redis is reachable again (and the restart check ran), false after `ms`. */
  waitUp(ms: number): Promise<boolean> {
    if (this.downSince === undefined) return Promise.resolve(true);
    if (ms <= 0 || this.h.closed()) return Promise.resolve(false);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        off();
        resolve(false);
      }, ms);
      const off = this.onUp(() => {
        clearTimeout(timer);
        off();
        resolve(true);
      });
    });
  }

  /**
   * Called from the handle's upkeep (every workerTtlMs/3, down or not). A server can stop
   * answering with its sockets open (a frozen master, a half-open TCP link): no error ever comes,
   * and the command connection waits for it. So:
   * - while ready, a PING is kept outstanding; one unanswered for STUCK_AFTER_MS means the
   *   server stopped answering;
   * - while reconnecting, a connection whose socket is open but whose handshake (ioredis's ready
   *   check) is unanswered for STUCK_AFTER_MS has reached such a server (a stopped process's
   *   listening socket still accepts connections).
   * Either way the socket is destroyed: ioredis reconnects at once, a Sentinel connection asks
   * the sentinels for the master again, and the other connections follow the master it reaches
   * (redis-master-follow.ts). Before, a frontend stayed on a frozen master until it woke, ~3 s
   * after the sentinels had promoted another.
   */
  probe(now: number): void {
    const { cmd } = this.h;
    if (this.h.closed()) return;
    if (cmd.status === 'connect') {
      this.probeSentAt = undefined;
      this.handshakeSince ??= now;
      if (now - this.handshakeSince >= STUCK_AFTER_MS) {
        this.handshakeSince = undefined;
        this.unstick(`did not answer a new connection's handshake within ${STUCK_AFTER_MS} ms`);
      }
      return;
    }
    this.handshakeSince = undefined;
    if (this.downSince !== undefined || cmd.status !== 'ready') {
      this.probeSentAt = undefined;
      return;
    }
    if (this.probeSentAt !== undefined) {
      if (now - this.probeSentAt < STUCK_AFTER_MS) return;
      this.probeSentAt = undefined;
      this.unstick(`left a PING unanswered for ${STUCK_AFTER_MS} ms`);
      return;
    }
    const sent = now;
    this.probeSentAt = sent;
    const settle = (): void => {
      if (this.probeSentAt === sent) this.probeSentAt = undefined;
    };
    cmd.ping().then(settle, settle);
  }

  /**
   * Destroys the command connection's socket, not disconnect(true): that ends it gracefully and
   * waits for the frozen peer's side of the close (measured ~2 s more). Each reason is logged
   * once per outage.
   */
  private unstick(why: string): void {
    if (!this.stuckLogged.has(why)) this.h.log(`redis at ${this.h.address} ${why}: reconnecting`);
    this.stuckLogged.add(why);
    const stream = (this.h.cmd as unknown as { stream?: { destroy(): void } }).stream;
    if (stream) stream.destroy();
    else this.h.cmd.disconnect(true);
  }

  /** Reachable now: not known down, and a PING answered within readyTimeoutMs. */
  async ready(): Promise<boolean> {
    if (this.h.closed() || this.downSince !== undefined) return false;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<boolean>((r) => (timer = setTimeout(() => r(false), this.h.readyTimeoutMs)));
    const ping = this.h.cmd.ping().then(
      (p) => p === 'PONG',
      () => false,
    );
    try {
      return await Promise.race([ping, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Called after each reconnection (and restart check); returns the unsubscribe function. */
  onUp(listener: () => void): () => void {
    this.upListeners.add(listener);
    return () => this.upListeners.delete(listener);
  }

  onDown(listener: () => void): () => void {
    this.downListeners.add(listener);
    return () => this.downListeners.delete(listener);
  }

  /** Request ids Redis lost (restarted without persistence, failed over); they will never be answered. */
  onLost(listener: (ids: readonly string[], cause: string) => void): () => void {
    this.lostListeners.add(listener);
    return () => this.lostListeners.delete(listener);
  }
}
