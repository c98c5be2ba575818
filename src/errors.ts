/**
 * Typed errors with stable codes. Every module throws `SlackserveError` with one of these codes;
 * the edges (gRPC, HTTP, CLI) map a code to their own status through `STATUS_OF` only, so the
 * mapping lives in exactly one table.
 */

/** Stable error codes: part of the public contract (they appear in responses and logs). */
export const ERROR_CODES = [
  'CONFIG_INVALID',
  'MANIFEST_MISSING',
  'MANIFEST_INVALID',
  'GRAPH_MISSING',
  'GRAPH_MISMATCH',
  'SUBNET_UNKNOWN',
  'MODEL_UNKNOWN',
  'INPUT_INVALID',
  'DATASET_MISSING',
  'TRACE_INVALID',
  'PROFILE_INVALID',
  'POLICY_UNKNOWN',
  'QUEUE_FULL',
  'DEADLINE_EXPIRED',
  'DEADLINE_EXCEEDED',
  'CANCELLED',
  'BACKEND_UNAVAILABLE',
  'LIMIT_EXCEEDED',
  'OVERLOADED',
  'UNAUTHENTICATED',
  'UNSUPPORTED',
  'INTERNAL',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

/** The category an edge needs to pick a status: gRPC status name and HTTP status code. */
export interface EdgeStatus {
  readonly grpc:
    | 'INVALID_ARGUMENT'
    | 'NOT_FOUND'
    | 'UNAVAILABLE'
    | 'CANCELLED'
    | 'FAILED_PRECONDITION'
    | 'RESOURCE_EXHAUSTED'
    | 'UNAUTHENTICATED'
    | 'DEADLINE_EXCEEDED'
    | 'UNIMPLEMENTED'
    | 'INTERNAL';
  readonly http: number;
}

/** The one table mapping error codes to edge statuses (conventions.md: Triton/KServe usage). */
export const STATUS_OF: Readonly<Record<ErrorCode, EdgeStatus>> = Object.freeze({
  CONFIG_INVALID: { grpc: 'FAILED_PRECONDITION', http: 500 },
  MANIFEST_MISSING: { grpc: 'FAILED_PRECONDITION', http: 500 },
  MANIFEST_INVALID: { grpc: 'FAILED_PRECONDITION', http: 500 },
  GRAPH_MISSING: { grpc: 'FAILED_PRECONDITION', http: 500 },
  GRAPH_MISMATCH: { grpc: 'FAILED_PRECONDITION', http: 500 },
  SUBNET_UNKNOWN: { grpc: 'INVALID_ARGUMENT', http: 400 },
  MODEL_UNKNOWN: { grpc: 'NOT_FOUND', http: 404 },
  INPUT_INVALID: { grpc: 'INVALID_ARGUMENT', http: 400 },
  DATASET_MISSING: { grpc: 'FAILED_PRECONDITION', http: 500 },
  TRACE_INVALID: { grpc: 'INVALID_ARGUMENT', http: 400 },
  PROFILE_INVALID: { grpc: 'FAILED_PRECONDITION', http: 500 },
  POLICY_UNKNOWN: { grpc: 'INVALID_ARGUMENT', http: 400 },
  QUEUE_FULL: { grpc: 'UNAVAILABLE', http: 503 },
  /** Shed: the server judged the request could not be answered in time (admission, queue expiry). */
  DEADLINE_EXPIRED: { grpc: 'UNAVAILABLE', http: 504 },
  /** The deadline the client set (gRPC deadline, Triton `timeout`) passed before the answer. */
  DEADLINE_EXCEEDED: { grpc: 'DEADLINE_EXCEEDED', http: 504 },
  CANCELLED: { grpc: 'CANCELLED', http: 499 },
  BACKEND_UNAVAILABLE: { grpc: 'UNAVAILABLE', http: 503 },
  /** A request over a size or count limit (message bytes, parameters, inputs): never retried as is. */
  LIMIT_EXCEEDED: { grpc: 'RESOURCE_EXHAUSTED', http: 413 },
  /** The server holds as many calls as it allows (in flight, per connection): retry later. */
  OVERLOADED: { grpc: 'RESOURCE_EXHAUSTED', http: 429 },
  /** No valid bearer token (`authTokens`, `metricsToken`): HTTP adds `WWW-Authenticate: Bearer`. */
  UNAUTHENTICATED: { grpc: 'UNAUTHENTICATED', http: 401 },
  /** A protocol feature slackserve does not offer (Triton's model load/unload). */
  UNSUPPORTED: { grpc: 'UNIMPLEMENTED', http: 501 },
  INTERNAL: { grpc: 'INTERNAL', http: 500 },
});

/** Longest message an edge sends: a status must fit in a trailer, whatever the request held. */
export const MAX_MESSAGE_CHARS = 512;

/** `text` cut to `max` characters, saying how much was left out. */
export function boundText(text: string, max = MAX_MESSAGE_CHARS): string {
  if (text.length <= max) return text;
  const tail = ` ... (${text.length - max} more characters)`;
  return text.slice(0, Math.max(0, max - tail.length)) + tail;
}

export class SlackserveError extends Error {
  override readonly name = 'SlackserveError';
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details: Readonly<Record<string, unknown>> = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }

  get status(): EdgeStatus {
    return STATUS_OF[this.code];
  }
}

/** Wraps anything thrown into a SlackserveError (unknown errors become INTERNAL). */
export function asSlackserveError(err: unknown): SlackserveError {
  if (err instanceof SlackserveError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new SlackserveError('INTERNAL', message, {}, { cause: err });
}
