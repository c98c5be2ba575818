import { readFileSync } from 'node:fs';
import { status } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { ERROR_CODES, SlackserveError, STATUS_OF } from '../../src/errors.js';
import { statusTableMarkdown, toGrpcServiceError, toGrpcStatus, toHttpError } from '../../src/api/status.js';

describe('edge statuses', () => {
  it('every error code maps through STATUS_OF', () => {
    for (const code of ERROR_CODES) {
      const err = new SlackserveError(code, `boom ${code}`);
      const g = toGrpcStatus(err);
      const h = toHttpError(err);
      expect(g.code).toBe(status[STATUS_OF[code].grpc]);
      expect(g.errorCode).toBe(code);
      expect(h.status).toBe(STATUS_OF[code].http);
      expect(h.body.code).toBe(code);
    }
  });

  it("the conventions' codes: INVALID_ARGUMENT, NOT_FOUND, UNAVAILABLE, CANCELLED", () => {
    expect(toGrpcStatus(new SlackserveError('INPUT_INVALID', 'x')).code).toBe(status.INVALID_ARGUMENT);
    expect(toGrpcStatus(new SlackserveError('MODEL_UNKNOWN', 'x')).code).toBe(status.NOT_FOUND);
    expect(toGrpcStatus(new SlackserveError('QUEUE_FULL', 'x')).code).toBe(status.UNAVAILABLE);
    expect(toGrpcStatus(new SlackserveError('DEADLINE_EXPIRED', 'x')).code).toBe(status.UNAVAILABLE);
    expect(toGrpcStatus(new SlackserveError('CANCELLED', 'x')).code).toBe(status.CANCELLED);
  });

  it("queue outcomes carry Triton's messages; other messages pass through", () => {
    expect(toGrpcStatus(new SlackserveError('QUEUE_FULL', '1000 queued')).details).toBe('Exceeds maximum queue size');
    expect(toGrpcStatus(new SlackserveError('DEADLINE_EXPIRED', 'late by 3 ms')).details).toBe('Request timeout expired');
    const full = toHttpError(new SlackserveError('QUEUE_FULL', 'x'));
    expect(full).toEqual({ status: 503, body: { error: 'Exceeds maximum queue size', code: 'QUEUE_FULL' }, headers: { 'retry-after': '1' } });
    expect(toHttpError(new SlackserveError('INPUT_INVALID', "input 'image': bad")).body.error).toBe("input 'image': bad");
  });

  it('anything else thrown is INTERNAL', () => {
    expect(toGrpcStatus(new Error('bug'))).toEqual({ code: status.INTERNAL, details: 'bug', errorCode: 'INTERNAL' });
    expect(toHttpError('str').status).toBe(500);
    expect(toGrpcServiceError(new SlackserveError('MODEL_UNKNOWN', 'm')).metadata.get('slackserve-error-code')).toEqual(['MODEL_UNKNOWN']);
  });

  it('docs/api.md holds the table generated from STATUS_OF', () => {
    const doc = readFileSync('docs/api.md', 'utf8');
    const m = /<!-- status-table:begin -->\n([\s\S]*?)\n<!-- status-table:end -->/.exec(doc);
    expect(m, 'status-table markers in docs/api.md').not.toBeNull();
    expect(m![1], 'docs/api.md status table is stale: paste statusTableMarkdown() between the markers').toBe(statusTableMarkdown());
  });
});
