/**
 * The request queue between frontends (which hold the client's call) and workers (which schedule
 * and run the model), and the reply path back. Two implementations share this interface: an
 * in-process one (the embedded default, nothing to install) and Redis Streams (any number of
 * frontends and workers sharing one Redis). docs/queue.md describes the delivery semantics.
 */
import type { ErrorCode } from '../errors.js';

/** What travels frontend -> worker. */
export interface QueuedInference {
  /** Unique request id, assigned by the frontend (e.g. `${frontendId}:${seq}`). */
  readonly id: string;
  /** The frontend that holds the call and waits for the answer (replies are routed by it). */
  readonly frontend: string;
  readonly model: string;
  /** Epoch ms when the frontend accepted the request. */
  readonly arrivalMs: number;
  /** Absolute epoch ms. Not enforced by the queue: the worker checks it at dequeue. */
  readonly deadlineMs: number;
  /** 0 = no minimum. */
  readonly minAccuracy: number;
  /** Triton meaning: 0 = default level, 1 = highest. */
  readonly priority: number;
  readonly sheddable: boolean;
  readonly sloClass: string;
  readonly downgraded: boolean;
  /** Tensor shape, e.g. [batch, 1, 28, 28]; `data` holds exactly 4 * product(shape) bytes. */
  readonly shape: readonly number[];
  /** FP32 little-endian tensor bytes. The queue takes ownership: do not mutate after enqueue. */
  readonly data: Uint8Array;
  /** The client wants progressive answers (early exits): several non-final replies may come. */
  readonly stream?: boolean;
}

/** A successful (possibly partial) answer. */
export interface InferenceOk {
  readonly id: string;
  readonly ok: true;
  /** false for a progressive early-exit answer that will be followed by more. */
  readonly final: boolean;
  readonly subnet: string;
  readonly exit: string | null;
  /** FP32 little-endian [batch, classes]. */
  readonly logits: Uint8Array;
  readonly classes: readonly number[];
  readonly queueUs: number;
  readonly computeUs: number;
  readonly deadlineMet: boolean;
  readonly downgraded: boolean;
  readonly worker: string;
  readonly extra?: Readonly<Record<string, string | number | boolean>>;
}

/** A failure; always final. */
export interface InferenceError {
  readonly id: string;
  readonly ok: false;
  readonly code: ErrorCode;
  readonly message: string;
}

/** What travels worker -> frontend. */
export type InferenceReply = InferenceOk | InferenceError;

/**
 * One pulled request. The implementations attach their own (private) handle to it; pass it back
 * unchanged to ack/release, and only to the queue it came from.
 */
export interface Delivery {
  readonly request: QueuedInference;
}

export interface RequestQueue {
  /**
   * Frontend: admit a request. Rejects with QUEUE_FULL ("Exceeds maximum queue size") when
   * `depth()` has reached maxPending, INPUT_INVALID for a malformed request, BACKEND_UNAVAILABLE
   * when the backend cannot be reached. Resolved = durably queued.
   */
  enqueue(r: QueuedInference): Promise<void>;
  /**
   * Frontend: the client cancelled. True when the request was removed before any worker pulled
   * it (it will never be delivered). Otherwise (pulled, released, or unknown) workers are told:
   * the one holding it gets `onCancel`, and a worker that pulls or reclaims it later drops it.
   */
  cancel(id: string): Promise<boolean>;
  /** Worker: cancellations of requests this handle has pulled and not yet acked or released. */
  onCancel(listener: (id: string) => void): () => void;
  /**
   * Worker: take up to `max` requests in FIFO order, waiting up to `blockMs` for the first one
   * (blockMs <= 0: do not wait). Resolves [] on timeout and when the handle is closed.
   * Registers `worker` as alive until this handle is closed.
   */
  pull(worker: string, max: number, blockMs: number): Promise<Delivery[]>;
  /** Worker: these are done (replied to); removes them for good. */
  ack(deliveries: readonly Delivery[]): Promise<void>;
  /**
   * Worker: these were run but their answer could not be sent (the backend was lost mid-reply):
   * stop holding them without acking. They stay pending in this worker's name and come back
   * through reclaim (lost in transit), to be answered then, or failed if their deadline passed.
   * Absent (in-process queue): replies cannot fail.
   */
  unhold?(deliveries: readonly Delivery[]): void;
  /** Worker, graceful shutdown: hand un-run requests back so other workers get them. */
  release(deliveries: readonly Delivery[]): Promise<void>;
  /**
   * Worker: take over up to `max` requests that dead workers (their handle closed, or their
   * process gone so their heartbeat lapsed) pulled at least `minIdleMs` ago and never acked.
   * Live workers' requests are never taken, however long they hold them. Also returns the
   * caller's own requests delivered to it but never seen by this handle (lost in transit).
   * Call periodically (DEFAULT_RECLAIM_INTERVAL_MS) with minIdleMs well above a round trip.
   */
  reclaim(worker: string, minIdleMs: number, max: number): Promise<Delivery[]>;
  /**
   * Worker: send an answer to the frontend that holds the call. Dropped if nobody listens.
   * Rejects when it could not be handed to the backend (then do not ack the request: unhold it).
   */
  reply(r: InferenceReply, frontend: string): Promise<void>;
  /**
   * Frontend: receive replies addressed to `frontend` from now on. Resolves once listening;
   * the returned function stops it.
   */
  subscribeReplies(frontend: string, onReply: (r: InferenceReply) => void): Promise<() => Promise<void>>;
  /** Requests admitted and not yet pulled by any worker (what maxPending bounds). */
  depth(): Promise<number>;
  /**
   * Requests enqueued and not yet acknowledged, by every frontend: waiting, pulled into a
   * worker's local queue, or running (what admission counts as ahead).
   */
  outstanding?(): Promise<number>;
  /** Backend reachable (readiness); never throws. */
  ready(): Promise<boolean>;
  /**
   * Some worker's heartbeat is live (readiness of a frontend without workers of its own). Absent
   * (in-process queue): the process's own worker serves it. Never throws; cheap to call often.
   */
  workersAlive?(): Promise<boolean>;
  /** The backend is known unreachable now (its connection failed and has not recovered). */
  backendDown?(): boolean;
  /** Called each time the backend becomes reachable (again); returns the unsubscribe function. */
  onBackendUp?(listener: () => void): () => void;
  /** Called each time the backend becomes unreachable; returns the unsubscribe function. */
  onBackendDown?(listener: () => void): () => void;
  /**
   * Frontend: ids of requests the backend lost (Redis restarted without persistence, or a
   * failover to a replica that had not received them): they will never be answered. `cause` is
   * what the client is told (`redis restarted`, `redis master changed`). Returns the unsubscribe
   * function.
   */
  onLost?(listener: (ids: readonly string[], cause: string) => void): () => void;
  /** Stops listening and pulling (blocked pulls resolve []), frees connections. Idempotent. */
  close(): Promise<void>;
}

/** Triton's wording for a full queue (conventions.md). */
export const QUEUE_FULL_MESSAGE = 'Exceeds maximum queue size';

/** Default bound on requests admitted and not yet pulled. */
export const DEFAULT_MAX_PENDING = 100_000;

/** How often a worker should call reclaim() to take over dead workers' requests. */
export const DEFAULT_RECLAIM_INTERVAL_MS = 150;
