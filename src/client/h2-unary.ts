/**
 * A minimal gRPC unary client straight on node:http2, for the replay's `--transport h2`: one
 * HTTP/2 stream per call, the already framed request written once, the response message and its
 * grpc-status read back. It skips grpc-js's per-call layers (resolver, retry and load-balancing
 * calls, filters, interceptors, a timer per deadline): measured here, about a third less client
 * CPU per call than grpc-js with identity serializers (docs/replay.md).
 *
 * What it does not do, on purpose: TLS, name resolution beyond what http2.connect does, retries
 * (except sending again a stream the server refused unprocessed), compression (it advertises
 * none, so servers answer uncompressed), metadata. Deadlines go to the server as `grpc-timeout`
 * and are enforced here too, by one sweep every 50 ms rather than one timer per call. Calls past
 * the server's concurrent-stream limit wait for a stream. Plaintext `host:port` targets only.
 */
import * as http2 from 'node:http2';

/** The gRPC status of a failed call (same shape as grpc-js's ServiceError's). */
export interface UnaryError {
  readonly code: number;
  readonly details: string;
}

/**
 * What the client itself saw of a call: `queuedMs`, how long it waited for a stream (the server's
 * SETTINGS_MAX_CONCURRENT_STREAMS was reached, or lowered while it sheds load) before its headers
 * could go; time the server's clock never sees.
 */
export interface UnaryInfo {
  readonly queuedMs: number;
}

export type UnaryCallback = (err: UnaryError | null, res?: Buffer, info?: UnaryInfo) => void;

const { NGHTTP2_CANCEL, NGHTTP2_REFUSED_STREAM } = http2.constants;
const CANCELLED = 1;
const UNKNOWN = 2;
const DEADLINE_EXCEEDED = 4;
const INTERNAL = 13;
const UNAVAILABLE = 14;

/** `grpc-timeout` for a time left in ms (at most 8 digits, as the spec asks). */
export function grpcTimeout(ms: number): string {
  const m = Math.max(1, Math.ceil(ms));
  return m < 1e8 ? `${m}m` : `${Math.min(99_999_999, Math.ceil(m / 1000))}S`;
}

interface Pending {
  readonly path: string;
  readonly framed: Buffer;
  readonly deadlineMs: number;
  readonly cb: UnaryCallback;
  /** null while queued (the server's stream limit was reached). */
  stream: http2.ClientHttp2Stream | null;
  done: boolean;
  timedOut: boolean;
  /** Times the server refused the stream unprocessed (REFUSED_STREAM): then it is sent again. */
  refused: number;
  /** performance.now() at call(), and when its (last) stream started: the wait for a stream. */
  readonly calledAt: number;
  startedAt: number;
}

/** A call the server keeps refusing (REFUSED_STREAM) fails after this many tries. */
const MAX_REFUSED = 5;

export class H2UnaryClient {
  private session: http2.ClientHttp2Session | null = null;
  private readonly pending = new Set<Pending>();
  /** Calls waiting for a stream (the server's SETTINGS_MAX_CONCURRENT_STREAMS), oldest first from `head`. */
  private queue: Pending[] = [];
  private head = 0;
  private active = 0;
  private sweeper: NodeJS.Timeout | null = null;
  private closed = false;

  /** `target`: host:port (plaintext). */
  constructor(private readonly target: string) {}

  /** The server's settings have arrived on the current session. */
  private settled = false;

  private open(): http2.ClientHttp2Session {
    if (this.session && !this.session.closed && !this.session.destroyed) return this.session;
    this.settled = false;
    const s = http2.connect(`http://${this.target}`, { settings: { enablePush: false, initialWindowSize: 4 * 1024 * 1024 }, maxSessionMemory: 256 });
    s.on('error', () => undefined); // each stream reports its own failure
    const forget = (): void => {
      if (this.session === s) this.session = null;
    };
    s.once('goaway', forget);
    s.once('close', forget);
    s.on('remoteSettings', () => {
      if (this.session === s) this.settled = true;
      this.drain();
    });
    this.session = s;
    return s;
  }

  /**
   * Streams the server allows at once (its SETTINGS_MAX_CONCURRENT_STREAMS); until its settings
   * arrive, 100 (RFC 9113 asks servers to allow at least that many).
   */
  private limit(): number {
    return this.settled && this.session ? this.session.remoteSettings.maxConcurrentStreams ?? 100 : 100;
  }

  /** Resolves true once connected and the server's settings are in (false if not within `timeoutMs`). */
  connect(timeoutMs: number): Promise<boolean> {
    return new Promise((resolve) => {
      const s = this.open();
      const timer = setTimeout(() => resolve(false), timeoutMs);
      s.once('remoteSettings', () => {
        clearTimeout(timer);
        resolve(true);
      });
      s.once('close', () => {
        clearTimeout(timer);
        resolve(false);
      });
    });
  }

  /**
   * One unary call. `framed` is the whole request message with gRPC's 5-byte prefix already in
   * front (wire.ts `assembleWithId(..., true)`). The callback runs exactly once. Past the server's
   * concurrent-stream limit the call waits for a stream (as grpc-js's do).
   */
  call(path: string, framed: Buffer, deadlineMs: number, cb: UnaryCallback): void {
    if (this.closed) return cb({ code: CANCELLED, details: 'client closed' });
    const calledAt = performance.now();
    const p: Pending = { path, framed, deadlineMs, cb, stream: null, done: false, timedOut: false, refused: 0, calledAt, startedAt: calledAt };
    this.pending.add(p);
    this.sweep();
    if (this.active < this.limit() && this.head === this.queue.length) this.start(p);
    else this.queue.push(p);
  }

  private finish(p: Pending, err: UnaryError | null, res?: Buffer): void {
    if (p.done) return;
    p.done = true;
    this.pending.delete(p);
    // a call that ends still waiting for a stream (its deadline, close()) waited until now
    const info: UnaryInfo = { queuedMs: (p.stream === null ? performance.now() : p.startedAt) - p.calledAt };
    if (err) p.cb(err, undefined, info);
    else p.cb(null, res, info);
  }

  /** Starts queued calls while the server allows more streams. */
  private drain(): void {
    while (this.head < this.queue.length && this.active < this.limit()) {
      const p = this.queue[this.head++] as Pending;
      if (!p.done) this.start(p);
    }
    if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
  }

  private start(p: Pending): void {
    let stream: http2.ClientHttp2Stream;
    try {
      stream = this.open().request(
        { ':method': 'POST', ':path': p.path, 'content-type': 'application/grpc', te: 'trailers', 'grpc-timeout': grpcTimeout(p.deadlineMs - Date.now()) },
        { endStream: false },
      );
    } catch (e) {
      this.session = null;
      return this.finish(p, { code: UNAVAILABLE, details: `cannot start a stream: ${(e as Error).message}` });
    }
    p.stream = stream;
    p.startedAt = performance.now();
    this.active++;
    const chunks: Buffer[] = [];
    let status: string | undefined;
    let message = '';
    let httpStatus = 0;
    let streamError: Error | undefined;
    const headers = (h: http2.IncomingHttpHeaders): void => {
      const s = h['grpc-status'];
      if (s !== undefined) {
        status = String(s);
        const m = h['grpc-message'];
        message = m === undefined ? '' : decodeURIComponentSafe(String(m));
      }
    };
    stream.on('response', (h) => {
      httpStatus = Number(h[':status']);
      headers(h); // a trailers-only answer carries its status here
    });
    stream.on('data', (d: Buffer) => chunks.push(d));
    stream.on('trailers', headers);
    stream.on('error', (e) => (streamError = e));
    stream.once('close', () => {
      this.active--;
      this.drain();
      if (p.done) return;
      if (p.timedOut) return this.finish(p, { code: DEADLINE_EXCEEDED, details: 'deadline exceeded (client)' });
      if (status === undefined) {
        const rst = stream.rstCode;
        if (httpStatus !== 0 && httpStatus !== 200) return this.finish(p, { code: httpStatus === 503 || httpStatus === 429 ? UNAVAILABLE : UNKNOWN, details: `HTTP status ${httpStatus}` });
        if (rst === NGHTTP2_REFUSED_STREAM) {
          // not processed by the server (RFC 9113 8.7): safe to send again, once a stream is free
          if (++p.refused < MAX_REFUSED) {
            p.stream = null;
            this.queue.push(p);
            return this.drain();
          }
          return this.finish(p, { code: UNAVAILABLE, details: `stream refused by the server ${p.refused} times` });
        }
        if (rst === NGHTTP2_CANCEL) return this.finish(p, { code: CANCELLED, details: 'stream cancelled' });
        return this.finish(p, { code: streamError || httpStatus === 0 ? UNAVAILABLE : INTERNAL, details: streamError ? streamError.message : `stream closed without a grpc-status (rst ${rst})` });
      }
      const code = Number(status);
      if (code !== 0) return this.finish(p, { code: Number.isInteger(code) ? code : UNKNOWN, details: message });
      const body = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks);
      if (body.length < 5) return this.finish(p, { code: INTERNAL, details: `response of ${body.length} bytes has no gRPC message` });
      if (body[0] !== 0) return this.finish(p, { code: INTERNAL, details: 'compressed response (none was accepted)' });
      const n = body.readUInt32BE(1);
      if (body.length !== 5 + n) return this.finish(p, { code: INTERNAL, details: `response framing: ${body.length - 5} bytes for a message of ${n}` });
      this.finish(p, null, body.subarray(5));
    });
    stream.end(p.framed);
  }

  /** One timer for all deadlines: calls past theirs are cancelled (answered DEADLINE_EXCEEDED). */
  private sweep(): void {
    if (this.sweeper) return;
    this.sweeper = setInterval(() => {
      const now = Date.now();
      for (const p of this.pending) {
        if (now < p.deadlineMs || p.done) continue;
        p.timedOut = true;
        if (p.stream) p.stream.close(NGHTTP2_CANCEL);
        else this.finish(p, { code: DEADLINE_EXCEEDED, details: 'deadline exceeded (client, waiting for a stream)' });
      }
      if (this.pending.size === 0 && this.sweeper) {
        clearInterval(this.sweeper);
        this.sweeper = null;
      }
    }, 50);
  }

  close(): void {
    this.closed = true;
    if (this.sweeper) clearInterval(this.sweeper);
    this.sweeper = null;
    for (const p of this.pending) if (!p.stream) this.finish(p, { code: CANCELLED, details: 'client closed' });
    this.session?.close();
    this.session = null;
  }
}

function decodeURIComponentSafe(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}
