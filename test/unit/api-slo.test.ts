import { describe, expect, it } from 'vitest';
import { SlackserveError } from '../../src/errors.js';
import { fromJsonParams, fromWireParams, type ParamValue } from '../../src/api/params.js';
import { MAX_HORIZON_MS, parseSlo, type SloOptions } from '../../src/api/slo.js';

const NOW = 1_700_000_000_000;
const OPTS: SloOptions = { now: NOW, defaultBudgetMs: 100 };

const int = (v: number | bigint): ParamValue => ({ kind: 'int64', value: BigInt(v) });
const uint = (v: number | bigint): ParamValue => ({ kind: 'uint64', value: BigInt(v) });
const dbl = (v: number): ParamValue => ({ kind: 'double', value: v });
const str = (v: string): ParamValue => ({ kind: 'string', value: v });
const bool = (v: boolean): ParamValue => ({ kind: 'bool', value: v });
const params = (o: Record<string, ParamValue>) => new Map(Object.entries(o));

function invalid(fn: () => unknown, ...fragments: string[]): SlackserveError {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(SlackserveError);
  const e = caught as SlackserveError;
  expect(e.code).toBe('INPUT_INVALID');
  for (const f of fragments) expect(e.message).toContain(f);
  return e;
}

describe('parseSlo: deadline', () => {
  it('applies the server default budget when nothing is given', () => {
    const s = parseSlo(new Map(), OPTS);
    expect(s).toMatchObject({ arrivalMs: NOW, deadlineMs: NOW + 100, budgetMs: 100, sources: ['default'] });
  });

  it('takes a latency budget as a double or an integer', () => {
    expect(parseSlo(params({ 'slackserve.latency_budget_ms': dbl(12.5) }), OPTS)).toMatchObject({
      deadlineMs: NOW + 12.5,
      budgetMs: 12.5,
      sources: ['slackserve.latency_budget_ms'],
    });
    expect(parseSlo(params({ 'slackserve.latency_budget_ms': int(40) }), OPTS).budgetMs).toBe(40);
    expect(parseSlo(params({ 'slackserve.latency_budget_ms': uint(40) }), OPTS).budgetMs).toBe(40);
  });

  it('rejects bad budgets, naming the parameter', () => {
    invalid(() => parseSlo(params({ 'slackserve.latency_budget_ms': dbl(-1) }), OPTS), "'slackserve.latency_budget_ms'", 'negative');
    invalid(() => parseSlo(params({ 'slackserve.latency_budget_ms': dbl(0) }), OPTS), 'greater than 0');
    invalid(() => parseSlo(params({ 'slackserve.latency_budget_ms': dbl(NaN) }), OPTS), 'finite', 'NaN');
    invalid(() => parseSlo(params({ 'slackserve.latency_budget_ms': dbl(Infinity) }), OPTS), 'finite');
    invalid(() => parseSlo(params({ 'slackserve.latency_budget_ms': str('50') }), OPTS), 'expected double or integer', 'string');
    invalid(() => parseSlo(params({ 'slackserve.latency_budget_ms': bool(true) }), OPTS), 'bool');
    invalid(() => parseSlo(params({ 'slackserve.latency_budget_ms': { kind: 'none' } }), OPTS), 'empty InferParameter');
    invalid(() => parseSlo(params({ 'slackserve.latency_budget_ms': dbl(MAX_HORIZON_MS + 1) }), OPTS), '24 h');
  });

  it('takes an absolute deadline as int64, uint64, double or a decimal string', () => {
    for (const v of [int(NOW + 30), uint(NOW + 30), dbl(NOW + 30), str(String(NOW + 30))]) {
      const s = parseSlo(params({ 'slackserve.deadline_unix_ms': v }), OPTS);
      expect(s).toMatchObject({ deadlineMs: NOW + 30, budgetMs: 30, sources: ['slackserve.deadline_unix_ms'] });
    }
  });

  it('rejects deadlines in the past, too far ahead (unit mistakes) or malformed', () => {
    invalid(() => parseSlo(params({ 'slackserve.deadline_unix_ms': int(NOW - 1) }), OPTS), "'slackserve.deadline_unix_ms'", 'in the past');
    invalid(() => parseSlo(params({ 'slackserve.deadline_unix_ms': int(NOW) }), OPTS), 'in the past');
    // seconds instead of milliseconds
    invalid(() => parseSlo(params({ 'slackserve.deadline_unix_ms': int(Math.floor(NOW / 1000) + 5) }), OPTS), 'in the past');
    // microseconds instead of milliseconds
    invalid(() => parseSlo(params({ 'slackserve.deadline_unix_ms': int(BigInt(NOW) * 1000n) }), OPTS), 'ahead');
    invalid(() => parseSlo(params({ 'slackserve.deadline_unix_ms': str('soon') }), OPTS), 'decimal number');
    invalid(() => parseSlo(params({ 'slackserve.deadline_unix_ms': int(2n ** 62n) }), OPTS), 'out of range');
  });

  it("honours Triton's timeout in microseconds; 0 means none", () => {
    expect(parseSlo(params({ timeout: int(25_000) }), OPTS)).toMatchObject({ budgetMs: 25, sources: ['timeout'] });
    expect(parseSlo(params({ timeout: uint(1500) }), OPTS).budgetMs).toBeCloseTo(1.5);
    expect(parseSlo(params({ timeout: int(0) }), OPTS)).toMatchObject({ budgetMs: 100, sources: ['default'] });
    invalid(() => parseSlo(params({ timeout: int(-5) }), OPTS), "'timeout'", 'negative');
    invalid(() => parseSlo(params({ timeout: dbl(1.5) }), OPTS), "'timeout'", 'expected integer');
    invalid(() => parseSlo(params({ timeout: str('100') }), OPTS), "'timeout'");
  });

  it('takes the earliest of all constraints; the binding one is listed first', () => {
    const s = parseSlo(
      params({ 'slackserve.latency_budget_ms': dbl(50), 'slackserve.deadline_unix_ms': int(NOW + 20), timeout: int(30_000) }),
      OPTS,
    );
    expect(s.deadlineMs).toBe(NOW + 20);
    expect(s.sources).toEqual(['slackserve.deadline_unix_ms', 'slackserve.latency_budget_ms', 'timeout']);
  });

  it('treats the gRPC deadline as an upper bound only', () => {
    const tight = parseSlo(params({ 'slackserve.latency_budget_ms': dbl(50) }), { ...OPTS, grpcDeadlineMs: NOW + 10 });
    expect(tight).toMatchObject({ deadlineMs: NOW + 10, budgetMs: 10, sources: ['grpc_deadline', 'slackserve.latency_budget_ms'] });
    const loose = parseSlo(params({ 'slackserve.latency_budget_ms': dbl(50) }), { ...OPTS, grpcDeadlineMs: NOW + 5000 });
    expect(loose).toMatchObject({ deadlineMs: NOW + 50, sources: ['slackserve.latency_budget_ms', 'grpc_deadline'] });
    // alone it does not replace the default budget, it caps it
    expect(parseSlo(new Map(), { ...OPTS, grpcDeadlineMs: NOW + 5000 })).toMatchObject({ budgetMs: 100, sources: ['default', 'grpc_deadline'] });
    expect(parseSlo(new Map(), { ...OPTS, grpcDeadlineMs: NOW + 40 })).toMatchObject({ budgetMs: 40, sources: ['grpc_deadline', 'default'] });
    expect(parseSlo(new Map(), { ...OPTS, grpcDeadlineMs: Infinity }).sources).toEqual(['default']);
  });

  it('a gRPC deadline already past at arrival is DEADLINE_EXCEEDED (the client set it)', () => {
    expect(() => parseSlo(new Map(), { ...OPTS, grpcDeadlineMs: NOW })).toThrow(expect.objectContaining({ code: 'DEADLINE_EXCEEDED' }));
  });

  it('rejects a bad server default as a configuration error', () => {
    expect(() => parseSlo(new Map(), { now: NOW, defaultBudgetMs: 0 })).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }));
  });
});

describe('parseSlo: other parameters', () => {
  it('has defaults', () => {
    expect(parseSlo(new Map(), OPTS)).toMatchObject({ minAccuracy: 0, priority: 0, sheddable: true, sloClass: 'default' });
    expect(parseSlo(new Map(), { ...OPTS, defaultSheddable: false, defaultSloClass: 'batch' })).toMatchObject({
      sheddable: false,
      sloClass: 'batch',
    });
  });

  it('min_accuracy must be in [0, 1]', () => {
    expect(parseSlo(params({ 'slackserve.min_accuracy': dbl(0.85) }), OPTS).minAccuracy).toBe(0.85);
    expect(parseSlo(params({ 'slackserve.min_accuracy': int(1) }), OPTS).minAccuracy).toBe(1);
    invalid(() => parseSlo(params({ 'slackserve.min_accuracy': dbl(1.01) }), OPTS), "'slackserve.min_accuracy'", '[0, 1]');
    invalid(() => parseSlo(params({ 'slackserve.min_accuracy': dbl(-0.1) }), OPTS), '[0, 1]');
    invalid(() => parseSlo(params({ 'slackserve.min_accuracy': int(85) }), OPTS), '[0, 1]', '85');
    invalid(() => parseSlo(params({ 'slackserve.min_accuracy': dbl(NaN) }), OPTS), 'finite');
    invalid(() => parseSlo(params({ 'slackserve.min_accuracy': str('0.9') }), OPTS), 'string');
  });

  it("priority has Triton's meaning and must be a non-negative integer", () => {
    expect(parseSlo(params({ priority: uint(1) }), OPTS).priority).toBe(1);
    expect(parseSlo(params({ priority: int(3) }), OPTS).priority).toBe(3);
    expect(parseSlo(params({ priority: int(0) }), OPTS).priority).toBe(0);
    invalid(() => parseSlo(params({ priority: int(-1) }), OPTS), "'priority'", 'negative');
    invalid(() => parseSlo(params({ priority: dbl(1.5) }), OPTS), "'priority'", 'expected integer');
    invalid(() => parseSlo(params({ priority: bool(true) }), OPTS), "'priority'");
  });

  it('sheddable must be a bool', () => {
    expect(parseSlo(params({ 'slackserve.sheddable': bool(false) }), OPTS).sheddable).toBe(false);
    invalid(() => parseSlo(params({ 'slackserve.sheddable': str('false') }), OPTS), "'slackserve.sheddable'", 'expected a bool');
    invalid(() => parseSlo(params({ 'slackserve.sheddable': int(0) }), OPTS), 'expected a bool');
  });

  it('slo_class is a bounded identifier', () => {
    expect(parseSlo(params({ 'slackserve.slo_class': str('interactive-1') }), OPTS).sloClass).toBe('interactive-1');
    invalid(() => parseSlo(params({ 'slackserve.slo_class': str('') }), OPTS), "'slackserve.slo_class'", '1-32 characters');
    invalid(() => parseSlo(params({ 'slackserve.slo_class': str('x'.repeat(33)) }), OPTS), '1-32');
    invalid(() => parseSlo(params({ 'slackserve.slo_class': str('a b') }), OPTS), '1-32');
    invalid(() => parseSlo(params({ 'slackserve.slo_class': str('{label="x"}') }), OPTS), '1-32');
    invalid(() => parseSlo(params({ 'slackserve.slo_class': int(1) }), OPTS), 'expected a string');
  });

  it('rejects unknown slackserve.* keys (typos) and ignores other unknown keys', () => {
    invalid(() => parseSlo(params({ 'slackserve.latency_budget': dbl(5) }), OPTS), "'slackserve.latency_budget'", 'unknown', 'latency_budget_ms');
    const s = parseSlo(params({ sequence_id: int(7), 'vendor.thing': { kind: 'invalid', got: 'an object' }, binary_data_output: bool(true) }), OPTS);
    expect(s.sources).toEqual(['default']);
  });
});

describe('parameters from the wire', () => {
  it('reads gRPC InferParameters by their oneof member (int64 as strings with longs: String)', () => {
    const p = fromWireParams({
      a: { parameter_choice: 'int64_param', int64_param: '-12' },
      b: { parameter_choice: 'uint64_param', uint64_param: '18446744073709551615' },
      c: { parameter_choice: 'double_param', double_param: 2.5 },
      d: { parameter_choice: 'string_param', string_param: 'x' },
      e: { parameter_choice: 'bool_param', bool_param: false },
      f: {},
      g: { int64_param: 5 },
    });
    expect(p.get('a')).toEqual({ kind: 'int64', value: -12n });
    expect(p.get('b')).toEqual({ kind: 'uint64', value: 2n ** 64n - 1n });
    expect(p.get('c')).toEqual({ kind: 'double', value: 2.5 });
    expect(p.get('d')).toEqual({ kind: 'string', value: 'x' });
    expect(p.get('e')).toEqual({ kind: 'bool', value: false });
    expect(p.get('f')).toEqual({ kind: 'none' });
    expect(p.get('g')).toEqual({ kind: 'int64', value: 5n });
    // a uint64 beyond any deadline is out of range, not silently rounded
    invalid(() => parseSlo(new Map([['priority', p.get('b')!]]), OPTS), 'out of range');
  });

  it('reads JSON parameters: integers as int64, other numbers as double; bad kinds fail only when read', () => {
    const p = fromJsonParams(JSON.parse('{"slackserve.latency_budget_ms": 20, "slackserve.min_accuracy": 0.9, "x": {"nested": 1}, "__proto__": 5}'));
    expect(p.get('__proto__')).toEqual({ kind: 'int64', value: 5n });
    expect(p.get('slackserve.latency_budget_ms')).toEqual({ kind: 'int64', value: 20n });
    expect(p.get('slackserve.min_accuracy')).toEqual({ kind: 'double', value: 0.9 });
    expect(parseSlo(p, OPTS)).toMatchObject({ budgetMs: 20, minAccuracy: 0.9 });
    const q = fromJsonParams({ 'slackserve.latency_budget_ms': [1] });
    invalid(() => parseSlo(q, OPTS), "'slackserve.latency_budget_ms'", 'an array');
    invalid(() => fromJsonParams([1, 2]), 'parameters must be a JSON object');
    expect(fromJsonParams(undefined).size).toBe(0);
  });
});
