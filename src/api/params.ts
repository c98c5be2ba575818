/**
 * Request and response parameters in one typed form, whichever edge they came through: gRPC's
 * `map<string, InferParameter>` (a oneof of bool/int64/string/double/uint64) or REST's JSON object
 * (boolean, number or string values). Values are converted lazily-checked: a value of the wrong
 * kind is kept as `invalid` and only becomes an error when a parameter the server reads has it,
 * so unknown third-party parameters never fail a request.
 */
import { SlackserveError } from '../errors.js';
import { DEFAULT_WIRE_LIMITS } from './infer-wire.js';
import type { WireInferParameter, WireLong, WireParameters } from './proto.js';

export type ParamValue =
  | { readonly kind: 'bool'; readonly value: boolean }
  | { readonly kind: 'int64'; readonly value: bigint }
  | { readonly kind: 'uint64'; readonly value: bigint }
  | { readonly kind: 'double'; readonly value: number }
  | { readonly kind: 'string'; readonly value: string }
  /** An InferParameter with no member of the oneof set. */
  | { readonly kind: 'none' }
  /** A value no parameter kind can hold (a JSON object or array, a malformed int64). */
  | { readonly kind: 'invalid'; readonly got: string };

/** Parameters by name. A Map, so names such as `__proto__` are plain keys. */
export type Params = ReadonlyMap<string, ParamValue>;

export const EMPTY_PARAMS: Params = new Map();

/** A short human description of a value's kind, for error messages. */
export function describeParam(p: ParamValue): string {
  switch (p.kind) {
    case 'bool':
      return `bool ${p.value}`;
    case 'int64':
    case 'uint64':
      return `${p.kind} ${p.value}`;
    case 'double':
      return `double ${p.value}`;
    case 'string':
      return `string ${JSON.stringify(p.value.length > 40 ? `${p.value.slice(0, 40)}...` : p.value)}`;
    case 'none':
      return 'an empty InferParameter (no value set)';
    case 'invalid':
      return p.got;
  }
}

function longToBigInt(v: WireLong | bigint | undefined): bigint | undefined {
  if (typeof v === 'bigint') return v;
  if (typeof v === 'number') return Number.isInteger(v) ? BigInt(v) : undefined;
  if (typeof v === 'string' && /^-?\d{1,20}$/.test(v)) return BigInt(v);
  return undefined;
}

const CHOICES = ['bool_param', 'int64_param', 'string_param', 'double_param', 'uint64_param'] as const;

/** One gRPC InferParameter in typed form. */
export function fromWireParameter(p: WireInferParameter | null | undefined): ParamValue {
  if (p === null || typeof p !== 'object') return { kind: 'none' };
  // `oneofs: true` names the member; without it, the first member present is the value
  const choice = p.parameter_choice ?? CHOICES.find((c) => p[c] !== undefined && p[c] !== null);
  switch (choice) {
    case 'bool_param':
      return typeof p.bool_param === 'boolean' ? { kind: 'bool', value: p.bool_param } : { kind: 'invalid', got: 'a malformed bool_param' };
    case 'string_param':
      return typeof p.string_param === 'string' ? { kind: 'string', value: p.string_param } : { kind: 'invalid', got: 'a malformed string_param' };
    case 'double_param':
      return typeof p.double_param === 'number' ? { kind: 'double', value: p.double_param } : { kind: 'invalid', got: 'a malformed double_param' };
    case 'int64_param': {
      const v = longToBigInt(p.int64_param);
      return v === undefined ? { kind: 'invalid', got: 'a malformed int64_param' } : { kind: 'int64', value: v };
    }
    case 'uint64_param': {
      const v = longToBigInt(p.uint64_param);
      return v === undefined || v < 0n ? { kind: 'invalid', got: 'a malformed uint64_param' } : { kind: 'uint64', value: v };
    }
    default:
      return { kind: 'none' };
  }
}

/** A gRPC `map<string, InferParameter>` in typed form. */
export function fromWireParams(wire: WireParameters | null | undefined): Params {
  const out = new Map<string, ParamValue>();
  if (wire === null || wire === undefined) return out;
  for (const [k, v] of Object.entries(wire)) out.set(k, fromWireParameter(v));
  return out;
}

function jsonKind(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return typeof v === 'object' ? 'an object' : typeof v;
}

/** One JSON parameter value: booleans, strings, integers (as int64) and other numbers (double). */
export function fromJsonValue(v: unknown): ParamValue {
  if (typeof v === 'boolean') return { kind: 'bool', value: v };
  if (typeof v === 'string') return { kind: 'string', value: v };
  if (typeof v === 'number') {
    if (Number.isSafeInteger(v)) return { kind: 'int64', value: BigInt(v) };
    return { kind: 'double', value: v };
  }
  return { kind: 'invalid', got: jsonKind(v) };
}

/** Parameters one REST request (or tensor) may carry: the bound the gRPC decoder enforces. */
export const MAX_PARAMS = DEFAULT_WIRE_LIMITS.maxRequestParameters;

/** REST's `parameters` object in typed form (absent: none). */
export function fromJsonParams(json: unknown, where = 'parameters'): Params {
  const out = new Map<string, ParamValue>();
  if (json === undefined || json === null) return out;
  if (typeof json !== 'object' || Array.isArray(json))
    throw new SlackserveError('INPUT_INVALID', `${where} must be a JSON object, got ${jsonKind(json)}`);
  for (const k in json) {
    if (out.size >= MAX_PARAMS) throw new SlackserveError('LIMIT_EXCEEDED', `${where} has more than ${MAX_PARAMS} entries, the limit`);
    if (Object.hasOwn(json, k)) out.set(k, fromJsonValue((json as Record<string, unknown>)[k]));
  }
  return out;
}

/** A response parameter to send: the kinds the server produces. */
export type OutParam =
  | { readonly kind: 'bool'; readonly value: boolean }
  | { readonly kind: 'int64'; readonly value: number }
  | { readonly kind: 'double'; readonly value: number }
  | { readonly kind: 'string'; readonly value: string };

/** Response parameters as gRPC InferParameter objects. */
export function toWireParams(params: ReadonlyArray<readonly [string, OutParam]>): WireParameters {
  const out: WireParameters = {};
  for (const [k, p] of params) {
    let v: WireInferParameter;
    switch (p.kind) {
      case 'bool':
        v = { bool_param: p.value };
        break;
      case 'int64':
        v = { int64_param: Math.round(p.value) };
        break;
      case 'double':
        v = { double_param: p.value };
        break;
      case 'string':
        v = { string_param: p.value };
        break;
    }
    Object.defineProperty(out, k, { value: v, enumerable: true, writable: true, configurable: true });
  }
  return out;
}

/** Response parameters as a JSON object (REST). */
export function toJsonParams(params: ReadonlyArray<readonly [string, OutParam]>): Record<string, boolean | number | string> {
  const out: Record<string, boolean | number | string> = {};
  for (const [k, p] of params) {
    const v = p.kind === 'int64' ? Math.round(p.value) : p.value;
    Object.defineProperty(out, k, { value: v, enumerable: true, writable: true, configurable: true });
  }
  return out;
}
