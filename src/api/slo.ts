/**
 * A request's SLO from its parameters (docs/api.md, "Request parameters"). Pure: the arrival
 * time and the gRPC deadline are arguments, nothing here reads a clock.
 *
 * The deadline is the earliest of every constraint given: `slackserve.latency_budget_ms` and
 * Triton's `timeout` (relative to arrival), `slackserve.deadline_unix_ms` (absolute), and the gRPC
 * call deadline (an upper bound only). When no SLO parameter is given the server's default budget
 * applies, still capped by the gRPC deadline.
 */
import { SlackserveError } from '../errors.js';
import { describeParam, type ParamValue, type Params } from './params.js';

export interface Slo {
  /** When the request arrived (epoch ms, the injected `now`). */
  readonly arrivalMs: number;
  /** Effective absolute deadline (epoch ms). */
  readonly deadlineMs: number;
  /** deadlineMs - arrivalMs. */
  readonly budgetMs: number;
  /** Minimum top-1 accuracy (0..1) of the serving subnet; 0 = none. */
  readonly minAccuracy: number;
  /** Triton's meaning: 0 = default, 1 = highest, larger = lower. */
  readonly priority: number;
  /** May the scheduler drop it when it can no longer meet its deadline? */
  readonly sheddable: boolean;
  readonly sloClass: string;
  /**
   * The deadline constraints that were given: parameter names, `grpc_deadline`, or `default`.
   * The first one is the binding one (it set `deadlineMs`).
   */
  readonly sources: readonly string[];
}

export interface SloOptions {
  /** Arrival time, epoch ms. */
  readonly now: number;
  /** Budget when the request gives none (ms, > 0). */
  readonly defaultBudgetMs: number;
  /** The gRPC call deadline, epoch ms; undefined or Infinity = none. */
  readonly grpcDeadlineMs?: number | undefined;
  /** `slackserve.sheddable` when not given (true: a late answer is worth nothing). */
  readonly defaultSheddable?: boolean;
  /** `slackserve.slo_class` when not given. */
  readonly defaultSloClass?: string;
}

export const SLO_PARAMS = {
  latencyBudgetMs: 'slackserve.latency_budget_ms',
  deadlineUnixMs: 'slackserve.deadline_unix_ms',
  minAccuracy: 'slackserve.min_accuracy',
  sloClass: 'slackserve.slo_class',
  sheddable: 'slackserve.sheddable',
} as const;

/** Triton's reserved request parameters, honoured with Triton's meaning. */
export const TRITON_PARAMS = { timeout: 'timeout', priority: 'priority' } as const;

export const KNOWN_SLACKSERVE_PARAMS: readonly string[] = Object.values(SLO_PARAMS);

/** No budget or deadline may lie further ahead than this (catches unit mistakes: s vs ms vs us). */
export const MAX_HORIZON_MS = 24 * 3600 * 1000;
export const SLO_CLASS_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,31}$/;
export const DEFAULT_SLO_CLASS = 'default';
export const GRPC_DEADLINE_SOURCE = 'grpc_deadline';
export const DEFAULT_SOURCE = 'default';

function bad(key: string, why: string): SlackserveError {
  return new SlackserveError('INPUT_INVALID', `parameter '${key}': ${why}`, { parameter: key });
}

type Accept = 'integer' | 'double' | 'numeric string';

/** A numeric parameter as a JS number, or an INPUT_INVALID naming the parameter. */
function numberOf(key: string, p: ParamValue, accept: readonly Accept[]): number {
  const expected = `expected ${accept.join(' or ')}`;
  switch (p.kind) {
    case 'int64':
    case 'uint64':
      if (!accept.includes('integer')) throw bad(key, `${expected}, got ${describeParam(p)}`);
      if (p.value > BigInt(Number.MAX_SAFE_INTEGER) || p.value < -BigInt(Number.MAX_SAFE_INTEGER))
        throw bad(key, `${p.value} is out of range`);
      return Number(p.value);
    case 'double':
      if (!accept.includes('double')) throw bad(key, `${expected}, got ${describeParam(p)}`);
      if (!Number.isFinite(p.value)) throw bad(key, `must be a finite number, got ${p.value}`);
      return p.value;
    case 'string':
      if (!accept.includes('numeric string')) throw bad(key, `${expected}, got ${describeParam(p)}`);
      if (!/^\d{1,16}(\.\d{1,6})?$/.test(p.value)) throw bad(key, `expected a decimal number, got ${describeParam(p)}`);
      return Number(p.value);
    default:
      throw bad(key, `${expected}, got ${describeParam(p)}`);
  }
}

function positiveWithinHorizon(key: string, v: number, unit: string, toMs: number): number {
  if (v < 0) throw bad(key, `must not be negative, got ${v}`);
  if (v === 0) throw bad(key, 'must be greater than 0');
  const ms = v * toMs;
  if (ms > MAX_HORIZON_MS) throw bad(key, `${v} ${unit} exceeds the ${MAX_HORIZON_MS / 3_600_000} h limit`);
  return ms;
}

/** Parses the SLO of one request. Throws INPUT_INVALID (or DEADLINE_EXCEEDED, see below). */
export function parseSlo(params: Params, opts: SloOptions): Slo {
  const { now } = opts;
  if (!Number.isFinite(now)) throw new SlackserveError('INTERNAL', `parseSlo: now must be finite, got ${now}`);
  if (!(opts.defaultBudgetMs > 0 && opts.defaultBudgetMs <= MAX_HORIZON_MS))
    throw new SlackserveError('CONFIG_INVALID', `default latency budget must be in (0, ${MAX_HORIZON_MS}] ms, got ${opts.defaultBudgetMs}`);

  for (const key of params.keys()) {
    if (key.startsWith('slackserve.') && !KNOWN_SLACKSERVE_PARAMS.includes(key))
      throw bad(key, `unknown slackserve parameter (known: ${KNOWN_SLACKSERVE_PARAMS.join(', ')})`);
  }

  // deadline constraints in a fixed order; ties go to the earlier one
  const candidates: { source: string; deadline: number }[] = [];

  const budgetP = params.get(SLO_PARAMS.latencyBudgetMs);
  if (budgetP !== undefined) {
    const key = SLO_PARAMS.latencyBudgetMs;
    const ms = positiveWithinHorizon(key, numberOf(key, budgetP, ['double', 'integer']), 'ms', 1);
    candidates.push({ source: key, deadline: now + ms });
  }

  const deadlineP = params.get(SLO_PARAMS.deadlineUnixMs);
  if (deadlineP !== undefined) {
    const key = SLO_PARAMS.deadlineUnixMs;
    const at = numberOf(key, deadlineP, ['integer', 'double', 'numeric string']);
    if (at <= now) throw bad(key, `${at} is in the past (server time ${now} epoch ms; clocks out of sync, or not epoch milliseconds?)`);
    if (at - now > MAX_HORIZON_MS)
      throw bad(key, `${at} is more than ${MAX_HORIZON_MS / 3_600_000} h ahead of server time ${now} (epoch milliseconds expected)`);
    candidates.push({ source: key, deadline: at });
  }

  const timeoutP = params.get(TRITON_PARAMS.timeout);
  if (timeoutP !== undefined) {
    const key = TRITON_PARAMS.timeout;
    const us = numberOf(key, timeoutP, ['integer']);
    if (us < 0) throw bad(key, `must not be negative, got ${us}`);
    // Triton: 0 means no timeout
    if (us > 0) candidates.push({ source: key, deadline: now + positiveWithinHorizon(key, us, 'us', 1e-3) });
  }

  if (candidates.length === 0) candidates.push({ source: DEFAULT_SOURCE, deadline: now + opts.defaultBudgetMs });

  const grpcDeadline = opts.grpcDeadlineMs;
  if (grpcDeadline !== undefined && grpcDeadline !== Infinity) {
    if (Number.isNaN(grpcDeadline)) throw new SlackserveError('INTERNAL', 'parseSlo: gRPC deadline is NaN');
    // the request did nothing wrong: its time ran out before it arrived
    if (grpcDeadline <= now)
      throw new SlackserveError('DEADLINE_EXCEEDED', `Deadline exceeded: the gRPC deadline ${grpcDeadline} passed before the request arrived (${now})`, {
        deadlineMs: grpcDeadline,
      });
    candidates.push({ source: GRPC_DEADLINE_SOURCE, deadline: grpcDeadline });
  }

  let binding = candidates[0]!;
  for (const c of candidates) if (c.deadline < binding.deadline) binding = c;
  // the binding one first, the rest in order (one array: this runs for every request)
  const sources = [binding.source];
  for (const c of candidates) if (c !== binding) sources.push(c.source);

  let minAccuracy = 0;
  const accP = params.get(SLO_PARAMS.minAccuracy);
  if (accP !== undefined) {
    const key = SLO_PARAMS.minAccuracy;
    minAccuracy = numberOf(key, accP, ['double', 'integer']);
    if (minAccuracy < 0 || minAccuracy > 1) throw bad(key, `must be in [0, 1] (a top-1 accuracy fraction), got ${minAccuracy}`);
  }

  let priority = 0;
  const prioP = params.get(TRITON_PARAMS.priority);
  if (prioP !== undefined) {
    const key = TRITON_PARAMS.priority;
    priority = numberOf(key, prioP, ['integer']);
    if (priority < 0) throw bad(key, `must not be negative (0 = default, 1 = highest), got ${priority}`);
  }

  let sheddable = opts.defaultSheddable ?? true;
  const shedP = params.get(SLO_PARAMS.sheddable);
  if (shedP !== undefined) {
    if (shedP.kind !== 'bool') throw bad(SLO_PARAMS.sheddable, `expected a bool, got ${describeParam(shedP)}`);
    sheddable = shedP.value;
  }

  let sloClass = opts.defaultSloClass ?? DEFAULT_SLO_CLASS;
  const classP = params.get(SLO_PARAMS.sloClass);
  if (classP !== undefined) {
    const key = SLO_PARAMS.sloClass;
    if (classP.kind !== 'string') throw bad(key, `expected a string, got ${describeParam(classP)}`);
    if (!SLO_CLASS_PATTERN.test(classP.value))
      throw bad(key, `must be 1-32 characters of [A-Za-z0-9_.:-] starting with a letter or digit, got ${describeParam(classP)}`);
    sloClass = classP.value;
  }

  return Object.freeze({
    arrivalMs: now,
    deadlineMs: binding.deadline,
    budgetMs: binding.deadline - now,
    minAccuracy,
    priority,
    sheddable,
    sloClass,
    sources: Object.freeze(sources),
  });
}
