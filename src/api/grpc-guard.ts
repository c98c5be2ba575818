/**
 * The gRPC edge's guard: one server interceptor that every call passes before any handler runs.
 * It bounds what a client can make the server hold, whatever the client does:
 * - calls in flight across the server (`maxInflight`, and for inference calls the adaptive limit
 *   below it: inflight-limit.ts): one more is answered RESOURCE_EXHAUSTED at once, before its
 *   message is read;
 * - while the server drains (`draining()` true), a new call is answered UNAVAILABLE "server is
 *   draining" at once, before its message is read (health methods stay open, to say not-ready);
 * - a unary call whose request message does not arrive within `readTimeoutMs` (a half-open
 *   stream) is ended with DEADLINE_EXCEEDED, so it stops holding memory;
 * - with API tokens set (`auth`), a call whose `authorization` metadata carries none of them is
 *   answered UNAUTHENTICATED as soon as its headers arrive, before its message is read (health
 *   methods stay open: `OPEN_GRPC_METHODS`);
 * and it stamps each request message with the time its call's headers arrived (`ARRIVAL`; on a
 * stream, the time the message arrived), where the SLO clock starts: the
 * earliest moment grpc-js shows a call to the application.
 *
 * Per connection, HTTP/2's own SETTINGS_MAX_CONCURRENT_STREAMS (`grpc.max_concurrent_streams`)
 * bounds the streams; a client queues the calls past it, it does not lose them.
 * One sweep timer serves every call: no per-call timers.
 */
import * as grpc from '@grpc/grpc-js';
import { SlackserveError } from '../errors.js';
import { credentialOf, type TokenSet, unauthenticated } from './auth.js';
import type { InflightLimit } from './inflight-limit.js';
import { toGrpcServiceError } from './status.js';

/** Methods any client may call without a token: health and liveness/readiness probes. */
export function isOpenGrpcMethod(path: string): boolean {
  return (
    path.startsWith('/grpc.health.v1.Health/') ||
    path === '/inference.GRPCInferenceService/ServerLive' ||
    path === '/inference.GRPCInferenceService/ServerReady'
  );
}

/** Symbol under which the guard puts the call's arrival time (epoch ms) on a decoded request object. */
export const ARRIVAL = Symbol('slackserve.arrivalMs');

/** A decoded request object the guard may stamp. */
export interface Stamped {
  [ARRIVAL]?: number;
}

export interface GuardOptions {
  /** Calls (unary or streams) the server holds at once; past it: RESOURCE_EXHAUSTED. */
  readonly maxInflight: number;
  /**
   * The adaptive limit below maxInflight for inference calls (inflight-limit.ts): what the server
   * answers within an SLO at its recent rate. Health and probes are held to maxInflight only.
   */
  readonly limit?: InflightLimit | undefined;
  /** A unary call's request message must arrive within this long (ms) of its headers. */
  readonly readTimeoutMs: number;
  /** Epoch ms (injected). */
  readonly now: () => number;
  /** Bearer tokens a call must carry (none or an empty set: no authentication). */
  readonly auth?: TokenSet | undefined;
  /** True while the server drains: new calls (but health) are refused UNAVAILABLE. */
  readonly draining?: (() => boolean) | undefined;
  /** Told about every call the guard refuses (for the failure counts): the method path and why. */
  readonly onRefused?: ((path: string, err: SlackserveError, arrivalMs: number) => void) | undefined;
}

/** What the guard needs of a call to end it (a grpc-js intercepting call, or a fast-path call). */
export interface GuardedCall {
  sendStatus(status: { code: grpc.status; details: string }): void;
}

/** A call the guard refuses at its door: the status to send, and the error it is counted as. */
export interface Refusal {
  readonly code: grpc.status;
  readonly details: string;
  readonly error: SlackserveError;
}

/** What a call that arrives while the server drains is told (gRPC UNAVAILABLE, HTTP 503). */
export const DRAINING_MESSAGE = 'server is draining';

/**
 * The errors the door counts its refusals with, made once: under a 10x burst the door refuses
 * thousands of calls a second, and building an Error (its stack trace) for each was ~18% of the
 * refusing process's busy time (CPU profile, 2026-12-03). They are only counted (by code), never
 * thrown, so one instance each serves every refusal.
 */
const DRAINING_REFUSAL = Object.freeze(new SlackserveError('BACKEND_UNAVAILABLE', DRAINING_MESSAGE));
const INFLIGHT_REFUSAL = Object.freeze(new SlackserveError('OVERLOADED', 'maxInflight'));

export interface GuardStats {
  readonly inflight: number;
  readonly refusedDraining: number;
  readonly rejected: number;
  readonly timedOut: number;
  readonly unauthenticated: number;
}

export class CallGuard {
  private inflight = 0;
  private rejected = 0;
  private timedOut = 0;
  private unauthenticated = 0;
  private refusedDraining = 0;
  /** Unary calls whose message has not arrived yet -> when their headers did. */
  private readonly awaiting = new Map<GuardedCall, { readonly since: number; readonly path: string }>();
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly o: GuardOptions) {
    this.timer = setInterval(() => this.sweep(), Math.max(50, Math.min(1000, o.readTimeoutMs / 4)));
    this.timer.unref();
  }

  get stats(): GuardStats {
    return { inflight: this.inflight, refusedDraining: this.refusedDraining, rejected: this.rejected, timedOut: this.timedOut, unauthenticated: this.unauthenticated };
  }

  close(): void {
    clearInterval(this.timer);
  }

  /** The grpc-js server interceptor (pass in the Server's `interceptors` option). */
  readonly interceptor = (method: grpc.ServerMethodDefinition<unknown, unknown>, next: grpc.ServerInterceptingCallInterface): grpc.ServerInterceptingCall => {
    const arrival = this.o.now();
    const unary = !method.requestStream;
    const auth = this.o.auth?.enabled === true && !isOpenGrpcMethod(method.path);
    let counted = false;
    let ended = false;
    /** The adaptive limit learns from this call's answer (a unary inference call that was let in). */
    let answeredCounter: InflightLimit | undefined;
    const end = (): void => {
      if (ended) return;
      ended = true;
      this.awaiting.delete(call);
      if (counted) this.inflight--;
    };
    const call: grpc.ServerInterceptingCall = new grpc.ServerInterceptingCall(next, {
      start: (startNext) => {
        const refusal = this.door(method.path, arrival);
        if (refusal !== undefined) {
          ended = true;
          // never started: no message is read, no handler runs
          call.sendStatus({ code: refusal.code, details: refusal.details });
          return;
        }
        const adaptive = isOpenGrpcMethod(method.path) ? undefined : this.o.limit;
        if (adaptive !== undefined && method.path.endsWith('/ModelInfer')) answeredCounter = adaptive;
        this.inflight++;
        counted = true;
        if (unary) this.awaiting.set(call, { since: arrival, path: method.path });
        startNext({
          onReceiveMetadata: (metadata, nextMetadata) => {
            if (auth) {
              const header = metadata.get('authorization')[0];
              const refusal = this.tokenRefusal(method.path, arrival, typeof header === 'string' ? header : undefined);
              if (refusal !== undefined) {
                // the handler never sees the metadata, so it never asks for the message
                call.sendStatus(toGrpcServiceError(refusal.error));
                return;
              }
            }
            nextMetadata(metadata);
          },
          onReceiveMessage: (message: unknown, nextMessage) => {
            this.awaiting.delete(call);
            // a unary request arrived with its call's headers; a stream's request when its message did
            if (typeof message === 'object' && message !== null) (message as Stamped)[ARRIVAL] = unary ? arrival : this.o.now();
            nextMessage(message);
          },
          onCancel: end,
        });
      },
      sendStatus: (status, nextStatus) => {
        if (status.code === grpc.status.OK && !ended) answeredCounter?.answered(this.o.now());
        end();
        nextStatus(status);
      },
    });
    return call;
  };

  /**
   * The door for unary ModelInfer calls the fast path serves (grpc-fast-infer.ts): the
   * interceptor's checks in its order (draining, the in-flight limits, the token), before the
   * message is read. Undefined: the call is let in and counted until `leave`; else the refusal to
   * answer it with (already counted as refused).
   */
  enter(call: GuardedCall, path: string, arrival: number, authorization: string | undefined): Refusal | undefined {
    const refusal = this.door(path, arrival) ?? this.tokenRefusal(path, arrival, authorization);
    if (refusal !== undefined) return refusal;
    this.inflight++;
    this.awaiting.set(call, { since: arrival, path });
    return undefined;
  }

  /**
   * The door every call passes before anything is read: while draining, everything but health is
   * refused; past the in-flight limit (the adaptive one for non-health calls) too. Counted here.
   */
  private door(path: string, arrival: number): Refusal | undefined {
    const open = isOpenGrpcMethod(path);
    if (this.o.draining?.() === true && !open) {
      this.refusedDraining++;
      const error = DRAINING_REFUSAL;
      this.refused(path, error, arrival);
      return { code: grpc.status.UNAVAILABLE, details: DRAINING_MESSAGE, error };
    }
    const adaptive = open ? undefined : this.o.limit;
    if (this.inflight >= (adaptive?.limit(arrival) ?? this.o.maxInflight)) {
      this.rejected++;
      const error = INFLIGHT_REFUSAL;
      this.refused(path, error, arrival);
      const details = adaptive?.reason(arrival) ?? `the server holds ${this.o.maxInflight} calls, its limit (maxInflight); retry later`;
      return { code: grpc.status.RESOURCE_EXHAUSTED, details, error };
    }
    return undefined;
  }

  /** With tokens set, a call (not health) whose `authorization` carries none of them: refused, counted here. */
  private tokenRefusal(path: string, arrival: number, authorization: string | undefined): Refusal | undefined {
    const auth = this.o.auth;
    if (auth?.enabled !== true || isOpenGrpcMethod(path) || auth.accepts(credentialOf(authorization))) return undefined;
    this.unauthenticated++;
    this.refused(path, new SlackserveError('UNAUTHENTICATED', 'no valid token'), arrival);
    const error = unauthenticated('api', authorization);
    const s = toGrpcServiceError(error);
    return { code: s.code, details: s.details, error };
  }

  /** A fast-path call's message arrived: the read timeout no longer applies to it. */
  messageArrived(call: GuardedCall): void {
    this.awaiting.delete(call);
  }

  /** A fast-path call let in by `enter` ended; `ok`: answered with status OK (the adaptive limit learns from it). */
  leave(call: GuardedCall, ok: boolean): void {
    this.awaiting.delete(call);
    this.inflight--;
    if (ok) this.o.limit?.answered(this.o.now());
  }

  private refused(path: string, err: SlackserveError, arrivalMs: number): void {
    try {
      this.o.onRefused?.(path, err, arrivalMs);
    } catch {
      // counting must not fail the refusal
    }
  }

  private sweep(): void {
    if (this.awaiting.size === 0) return;
    const cutoff = this.o.now() - this.o.readTimeoutMs;
    for (const [call, { since, path }] of this.awaiting) {
      if (since > cutoff) break; // insertion order is arrival order: the rest are younger
      this.awaiting.delete(call);
      this.timedOut++;
      this.refused(path, new SlackserveError('LIMIT_EXCEEDED', 'readTimeoutMs'), since);
      call.sendStatus({
        code: grpc.status.DEADLINE_EXCEEDED,
        details: `the request message did not arrive within ${this.o.readTimeoutMs} ms of the call's headers (readTimeoutMs)`,
      });
    }
  }
}
