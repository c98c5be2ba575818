/**
 * The ModelInfer fast path: unary `inference.GRPCInferenceService/ModelInfer` calls served
 * straight off grpc-js's own node:http2 server, every other call left to grpc-js.
 *
 * Why: per call, grpc-js builds a Metadata object from the headers, two intercepting-call layers
 * (its own and our guard's), a stream decoder, a unary call EventEmitter and a deadline timer, and
 * frames the response with one more copy. At 1,000 single-image calls/s that machinery cost more
 * main-thread time than the call's decode, validation and hand-off together (docs/serving.md). This
 * path reads the one length-prefixed message from the HTTP/2 stream, decodes it with the same
 * bounded codec (infer-wire.ts), runs the same door (CallGuard.enter: draining, in-flight limits,
 * token), the same preparation and backend call as the grpc-js handler, and answers with the
 * framed response and the `grpc-status` trailers grpc-js would send.
 *
 * What stays grpc-js's: connections, TLS, HTTP/2 settings (max concurrent streams), keepalive and
 * idle timeouts (the session handler is untouched; `onStreamOpened` keeps the idle count right),
 * every other method, and any ModelInfer call this path does not take: a compressed one
 * (`grpc-encoding` other than identity) or one with a content type that is not gRPC's.
 *
 * How it attaches: grpc-js 1.14 keeps its HTTP/2 servers in the private `http2Servers` map and
 * handles streams in one 'stream' listener per server. `attachFastInfer` wraps that listener.
 * When the internals are not there (another grpc-js version), it attaches nothing and says so,
 * and every call keeps going through grpc-js; a test fails in that case (grpc-fast-infer.test.ts).
 */
import * as http2 from 'node:http2';
import * as grpc from '@grpc/grpc-js';
import { type ErrorCode, SlackserveError } from '../errors.js';
import type { CallGuard, GuardedCall } from './grpc-guard.js';
import { ERROR_CODE_METADATA_KEY, toGrpcStatus } from './status.js';
import { CallCancel } from './cancel.js';

export const MODEL_INFER_PATH = '/inference.GRPCInferenceService/ModelInfer';

/** What the fast path needs from the server around it. */
export interface FastInferHandler {
  readonly guard: CallGuard;
  /** Largest request message (bytes, `grpc.max_receive_message_length`). */
  readonly maxMessageBytes: number;
  /** Epoch ms. */
  readonly now: () => number;
  /**
   * Decodes, prepares and runs one request; resolves with the framed response
   * (encodeModelInferResponseFramed) or rejects with the error to answer.
   */
  serve(message: Buffer, arrivalMs: number, grpcDeadlineMs: number, cancel: CallCancel): Promise<Buffer>;
  /** Told about every failed call (logs and metrics), as the grpc-js handler does. */
  reportError(err: unknown, rpc: string): void;
  /** Counts a call that failed before `serve` (framing errors). */
  edgeFailure(err: unknown, arrivalMs: number): void;
  /** The door refused a call for load (OVERLOADED) on this connection (shed-streams.ts). */
  refusedOn?(session: http2.Http2Session): void;
}

export interface FastInferStats {
  /** Calls served by this path since start. */
  readonly calls: number;
}

type StreamListener = (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, flags: number) => void;

interface GrpcServerInternals {
  http2Servers?: Map<http2.Http2Server | http2.Http2SecureServer, unknown>;
  onStreamOpened?: (stream: http2.ServerHttp2Stream) => void;
}

const GRPC_TIMEOUT_UNIT_MS: Readonly<Record<string, number>> = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 0.001, n: 0.000001 };

/** The absolute deadline (epoch ms) a `grpc-timeout` header gives, Infinity without one. */
export function grpcTimeoutDeadline(header: string | string[] | undefined, arrivalMs: number): number {
  if (typeof header !== 'string') return Infinity;
  const m = /^(\d{1,8})([HMSmun])$/.exec(header);
  if (m === null) return Infinity;
  return arrivalMs + Number(m[1]) * (GRPC_TIMEOUT_UNIT_MS[m[2] as string] ?? 0);
}

const RESPONSE_HEADERS = Object.freeze({
  ':status': 200,
  'content-type': 'application/grpc+proto',
  'grpc-accept-encoding': 'identity,deflate,gzip',
  'grpc-encoding': 'identity',
});
const OK_TRAILERS = Object.freeze({ 'grpc-status': grpc.status.OK, 'grpc-message': 'OK' });
const RESPOND_OPTIONS: http2.ServerStreamResponseOptions = Object.freeze({ waitForTrailers: true });
function sendOkTrailers(this: http2.ServerHttp2Stream): void {
  this.sendTrailers(OK_TRAILERS);
}

/** True when the fast path takes this stream; anything else goes to grpc-js unchanged. */
function takes(headers: http2.IncomingHttpHeaders): boolean {
  if (headers[':path'] !== MODEL_INFER_PATH) return false;
  const type = headers['content-type'];
  if (typeof type !== 'string' || !type.startsWith('application/grpc')) return false;
  const encoding = headers['grpc-encoding'];
  return encoding === undefined || encoding === 'identity';
}

/**
 * Wraps the 'stream' listener of each HTTP/2 server `server` has bound (call after bindAsync).
 * Returns false (and changes nothing) when grpc-js's internals are not the ones this was written for.
 */
export function attachFastInfer(server: grpc.Server, handler: FastInferHandler): { attached: boolean; stats: () => FastInferStats } {
  const internals = server as unknown as GrpcServerInternals;
  const servers = internals.http2Servers;
  let calls = 0;
  const stats = (): FastInferStats => ({ calls });
  if (!(servers instanceof Map) || servers.size === 0 || typeof internals.onStreamOpened !== 'function') return { attached: false, stats };
  const h2s = [...servers.keys()];
  if (!h2s.every((h) => h.listenerCount('stream') === 1)) return { attached: false, stats };
  const onStreamOpened = internals.onStreamOpened.bind(server);
  for (const h2 of h2s) {
    const grpcListener = h2.listeners('stream')[0] as StreamListener;
    h2.removeAllListeners('stream');
    h2.on('stream', (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, flags: number) => {
      if (!takes(headers)) {
        grpcListener(stream, headers, flags);
        return;
      }
      calls++;
      onStreamOpened(stream);
      new FastCall(stream, headers, handler).start();
    });
  }
  return { attached: true, stats };
}

/** One unary ModelInfer call on its HTTP/2 stream. */
class FastCall implements GuardedCall {
  private readonly arrival: number;
  private chunks: Buffer[] = [];
  private received = 0;
  /** The message's length from its 5-byte prefix, once read. */
  private expected = -1;
  /** Let in by the guard (counted in flight until it ends). */
  private admitted = false;
  private finished = false;
  private readonly cancel = new CallCancel();

  constructor(
    private readonly stream: http2.ServerHttp2Stream,
    private readonly headers: http2.IncomingHttpHeaders,
    private readonly h: FastInferHandler,
  ) {
    this.arrival = h.now();
  }

  start(): void {
    const { stream } = this;
    // an error event always comes with 'close', which is where the call ends
    stream.on('error', () => undefined);
    stream.once('close', () => this.onClose());
    const auth = this.headers['authorization'];
    const refusal = this.h.guard.enter(this, MODEL_INFER_PATH, this.arrival, typeof auth === 'string' ? auth : undefined);
    if (refusal !== undefined) {
      this.finished = true;
      if (refusal.error.code === 'OVERLOADED' && stream.session !== undefined) this.h.refusedOn?.(stream.session);
      this.trailersOnly(refusal.code, refusal.details, refusal.error.code);
      // The client queued the message with the headers: RST_STREAM(NO_ERROR) after the complete
      // answer tells it to stop sending it (RFC 9113 8.1), so a burst's refused bodies do not
      // take the connection's flow-control window from the calls let in. Read and drop what came.
      stream.resume();
      if (!stream.destroyed) stream.close(http2.constants.NGHTTP2_NO_ERROR);
      return;
    }
    this.admitted = true;
    stream.on('data', (chunk: Buffer) => this.onData(chunk));
    stream.once('end', () => this.onEnd());
  }

  /** The guard's read timeout ends a call whose message has not arrived (GuardedCall). */
  sendStatus(status: { code: grpc.status; details: string }): void {
    this.fail(status.code, status.details, undefined);
  }

  private onData(chunk: Buffer): void {
    if (this.finished) return;
    this.chunks.push(chunk);
    this.received += chunk.length;
    if (this.expected < 0 && this.received >= 5) {
      const head = this.chunks.length === 1 ? chunk : Buffer.concat(this.chunks);
      if (head[0] !== 0) {
        // compressed flag without a grpc-encoding header (compressed calls go to grpc-js)
        this.framingError('INPUT_INVALID', 'a compressed message arrived without a grpc-encoding header');
        return;
      }
      this.expected = head.readUInt32BE(1);
      if (this.expected > this.h.maxMessageBytes) {
        this.framingError('LIMIT_EXCEEDED', `Received message larger than max (${this.expected} vs ${this.h.maxMessageBytes})`);
        return;
      }
    }
    if (this.expected >= 0 && this.received > this.expected + 5) {
      this.framingError('INPUT_INVALID', 'a second request message arrived on a unary ModelInfer call');
    }
  }

  private onEnd(): void {
    if (this.finished) return;
    this.h.guard.messageArrived(this);
    if (this.expected < 0 || this.received < this.expected + 5) {
      this.framingError('INPUT_INVALID', 'the ModelInfer call ended without a complete request message');
      return;
    }
    const only = this.chunks.length === 1 ? (this.chunks[0] as Buffer) : Buffer.concat(this.chunks, this.received);
    this.chunks = [];
    const message = only.subarray(5, 5 + this.expected);
    const deadline = grpcTimeoutDeadline(this.headers['grpc-timeout'], this.arrival);
    let answer: Promise<Buffer>;
    try {
      answer = this.h.serve(message, this.arrival, deadline, this.cancel);
    } catch (err) {
      answer = Promise.reject(err);
    }
    answer
      .then(
        (frame) => this.succeed(frame),
        (err: unknown) => {
          this.h.reportError(err, 'ModelInfer');
          const s = toGrpcStatus(err);
          this.fail(s.code, s.details, s.errorCode);
        },
      )
      // nothing that answers a call may end the process: a throw here is reported, not unhandled
      .catch((err: unknown) => this.h.reportError(err, 'ModelInfer'));
  }

  private onClose(): void {
    if (this.finished) return;
    // the client cancelled or the connection went away before the answer
    this.finished = true;
    this.chunks = [];
    this.cancel.cancel();
    if (this.admitted) this.h.guard.leave(this, false);
  }

  private succeed(frame: Buffer): void {
    if (this.finished) return;
    this.finished = true;
    this.h.guard.leave(this, true);
    const { stream } = this;
    if (stream.destroyed || stream.closed) return;
    try {
      stream.respond(RESPONSE_HEADERS, RESPOND_OPTIONS);
      // 'wantTrailers' comes once per stream: a shared listener, no closure or once-wrapper per call
      stream.on('wantTrailers', sendOkTrailers);
      stream.end(frame);
    } catch {
      // the stream closed between the check and the write: the client is gone
    }
  }

  /** A framing error (the gRPC message itself, before decoding): counted as the edge's failure, then answered. */
  private framingError(errorCode: ErrorCode, details: string): void {
    if (this.finished) return;
    const err = new SlackserveError(errorCode, details);
    this.h.edgeFailure(err, this.arrival);
    const s = toGrpcStatus(err);
    this.fail(s.code, s.details, s.errorCode);
  }

  /** Ends the call with an error status (a trailers-only response), once. */
  private fail(code: grpc.status, details: string, errorCode: string | undefined): void {
    if (this.finished) return;
    this.finished = true;
    this.chunks = [];
    if (this.admitted) this.h.guard.leave(this, false);
    this.trailersOnly(code, details, errorCode);
  }

  private trailersOnly(code: grpc.status, details: string, errorCode: string | undefined): void {
    const { stream } = this;
    if (stream.destroyed || stream.closed || stream.headersSent) return;
    const trailers: http2.OutgoingHttpHeaders = {
      ':status': 200,
      'content-type': 'application/grpc+proto',
      'grpc-status': code,
      'grpc-message': encodeURI(details),
    };
    if (errorCode !== undefined) trailers[ERROR_CODE_METADATA_KEY] = errorCode;
    try {
      stream.respond(trailers, { endStream: true });
    } catch {
      // the client is gone
    }
  }
}
