import { describe, expect, it } from 'vitest';
import { asSlackserveError, ERROR_CODES, SlackserveError, STATUS_OF } from '../../src/errors.js';

describe('errors', () => {
  it('maps every code to a gRPC and an HTTP status in one table', () => {
    for (const code of ERROR_CODES) {
      expect(STATUS_OF[code].grpc).toMatch(/^[A-Z_]+$/);
      expect(STATUS_OF[code].http).toBeGreaterThanOrEqual(400);
    }
    expect(new SlackserveError('INPUT_INVALID', 'x').status).toEqual({ grpc: 'INVALID_ARGUMENT', http: 400 });
    expect(STATUS_OF.QUEUE_FULL.grpc).toBe('UNAVAILABLE');
    expect(STATUS_OF.MODEL_UNKNOWN.grpc).toBe('NOT_FOUND');
  });

  it('wraps foreign errors as INTERNAL and keeps typed ones', () => {
    const typed = new SlackserveError('SUBNET_UNKNOWN', 'nope');
    expect(asSlackserveError(typed)).toBe(typed);
    const wrapped = asSlackserveError(new TypeError('boom'));
    expect(wrapped.code).toBe('INTERNAL');
    expect(wrapped.message).toBe('boom');
    expect(asSlackserveError('str').message).toBe('str');
  });
});
