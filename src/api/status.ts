/**
 * Errors at the edges: any thrown value -> a gRPC status or an HTTP status with a JSON body,
 * through `STATUS_OF` (src/errors.ts) only. Two codes carry Triton's exact messages, which
 * clients and dashboards match on (as a prefix: detail may follow after a colon).
 */
import { Metadata, status } from '@grpc/grpc-js';
import { asSlackserveError, boundText, ERROR_CODES, type ErrorCode, STATUS_OF } from '../errors.js';

/** Triton's wording for the two queue outcomes (conventions.md). */
export const FIXED_MESSAGES: Readonly<Partial<Record<ErrorCode, string>>> = Object.freeze({
  QUEUE_FULL: 'Exceeds maximum queue size',
  DEADLINE_EXPIRED: 'Request timeout expired',
});

/** Trailer naming the SlackserveError code of a failed call. */
export const ERROR_CODE_METADATA_KEY = 'slackserve-error-code';

/** Seconds a client should wait before retrying a QUEUE_FULL (HTTP Retry-After). */
export const RETRY_AFTER_S = 1;

export interface GrpcError {
  readonly code: status;
  readonly details: string;
  readonly errorCode: ErrorCode;
}

export interface HttpError {
  readonly status: number;
  readonly body: { readonly error: string; readonly code: ErrorCode };
  readonly headers: Readonly<Record<string, string>>;
}

/** Triton's fixed wording; a message that already starts with it keeps its detail after it. */
function messageOf(code: ErrorCode, message: string): string {
  const fixed = FIXED_MESSAGES[code];
  if (fixed === undefined) return boundText(message);
  return message.startsWith(fixed) ? boundText(message) : fixed;
}

export function toGrpcStatus(err: unknown): GrpcError {
  const e = asSlackserveError(err);
  return { code: status[STATUS_OF[e.code].grpc], details: messageOf(e.code, e.message), errorCode: e.code };
}

/** The object grpc-js sends as a call's error status (with the code in the trailers). */
export function toGrpcServiceError(err: unknown): { code: status; details: string; metadata: Metadata } {
  const g = toGrpcStatus(err);
  const metadata = new Metadata();
  metadata.set(ERROR_CODE_METADATA_KEY, g.errorCode);
  return { code: g.code, details: g.details, metadata };
}

export function toHttpError(err: unknown): HttpError {
  const e = asSlackserveError(err);
  const headers: Record<string, string> =
    e.code === 'QUEUE_FULL' || e.code === 'OVERLOADED'
      ? { 'retry-after': String(RETRY_AFTER_S) }
      : e.code === 'UNAUTHENTICATED'
        ? { 'www-authenticate': String(e.details['challenge'] ?? 'Bearer') }
        : {};
  return { status: STATUS_OF[e.code].http, body: { error: messageOf(e.code, e.message), code: e.code }, headers };
}

/** The status table of docs/api.md, generated from STATUS_OF. */
export function statusTableMarkdown(): string {
  const rows = ERROR_CODES.map((code) => {
    const s = STATUS_OF[code];
    const fixed = FIXED_MESSAGES[code];
    return `| \`${code}\` | \`${s.grpc}\` (${status[s.grpc]}) | ${s.http} | ${fixed ? `"${fixed}"` : 'the error message'} |`;
  });
  return ['| error code | gRPC status | HTTP status | message |', '|---|---|---|---|', ...rows].join('\n');
}
