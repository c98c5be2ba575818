import { status } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import type { ParamValue } from '../../src/api/params.js';
import { parseSlo } from '../../src/api/slo.js';
import { toGrpcStatus } from '../../src/api/status.js';
import { SlackserveError } from '../../src/errors.js';
import { clientSetDeadline, deadlineOutcome } from '../../src/server/deadline-outcome.js';

const NOW = 1_800_000_000_000;
const slo = (params: [string, number][], grpcDeadlineMs?: number) =>
  parseSlo(new Map(params.map(([k, v]): [string, ParamValue] => [k, { kind: 'int64', value: BigInt(v) }])), { now: NOW, defaultBudgetMs: 100, ...(grpcDeadlineMs ? { grpcDeadlineMs } : {}) });
const expired = (msg = 'Request timeout expired') => new SlackserveError('DEADLINE_EXPIRED', msg);

describe('which timeout a request gets', () => {
  it('a client deadline (gRPC deadline, timeout, latency budget) that passed: DEADLINE_EXCEEDED', () => {
    for (const s of [slo([], NOW + 50), slo([['timeout', 50_000]]), slo([['slackserve.latency_budget_ms', 50]])]) {
      expect(clientSetDeadline(s)).toBe(true);
      const e = deadlineOutcome(expired(), s, NOW + 45, NOW + 45);
      expect(e.code).toBe('DEADLINE_EXCEEDED');
      expect(toGrpcStatus(e).code).toBe(status.DEADLINE_EXCEEDED);
      expect(e.message).toMatch(/^Deadline exceeded: the request's deadline \((grpc_deadline|timeout|slackserve.latency_budget_ms), 50.0 ms after arrival\) passed after 45.0 ms/);
    }
  });

  it('says who gave up: a worker that found the request expired, or the sweep that found no answer at all', () => {
    const s = slo([['slackserve.latency_budget_ms', 50]]);
    const queued = deadlineOutcome(expired('Request timeout expired: the deadline passed while it waited in the queue'), s, NOW + 45, NOW + 47);
    expect(queued.message).toMatch(/passed after 47.0 ms without an answer \(the deadline passed while it waited in the queue\)$/);
    const swept = deadlineOutcome(expired('Request timeout expired: no worker answered'), s, NOW + 45, NOW + 2_050);
    expect(swept.message).toMatch(/without an answer \(no worker answered\)$/);
  });

  it('dropped while time was left (shed): UNAVAILABLE "Request timeout expired: shed ..."', () => {
    const s = slo([['slackserve.latency_budget_ms', 50]]);
    const e = deadlineOutcome(expired('Request timeout expired: no subnet can finish it before its deadline (shed)'), s, NOW + 45, NOW + 10);
    expect(e.code).toBe('DEADLINE_EXPIRED');
    expect(toGrpcStatus(e)).toMatchObject({ code: status.UNAVAILABLE, details: expect.stringMatching(/^Request timeout expired: shed after 10.0 ms/) });
  });

  it("the server's default budget passing stays UNAVAILABLE, saying so; other errors pass through", () => {
    const s = slo([]);
    expect(clientSetDeadline(s)).toBe(false);
    const e = deadlineOutcome(expired(), s, NOW + 95, NOW + 96);
    expect([e.code, e.message]).toEqual(['DEADLINE_EXPIRED', expect.stringMatching(/default budget of 100.0 ms passed/)]);
    const other = new SlackserveError('QUEUE_FULL', 'Exceeds maximum queue size');
    expect(deadlineOutcome(other, s, NOW, NOW + 500)).toBe(other);
  });
});
