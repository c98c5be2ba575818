/**
 * Seeded random ModelInferRequest / ModelInferResponse objects for the wire-codec tests, and the
 * protobufjs oracles they are checked against: proto-loader's own (de)serializers from the
 * server's service definition (packed repeated scalars, as protobufjs writes proto3), and a second
 * protobufjs type from the same .proto with `[packed = false]` on every repeated scalar, to
 * produce the unpacked encoding other runtimes may send.
 */
import { readFileSync } from 'node:fs';
import protobuf from 'protobufjs';
import { INFERENCE_PROTO, loadProtos, PROTO_DIR } from '../src/api/proto.js';
import { rng } from './helpers.js';

type Fn = (x: any) => any;
const inference = loadProtos().inference;
export const oracle = {
  decodeRequest: inference.ModelInfer!.requestDeserialize as Fn,
  encodeRequest: inference.ModelInfer!.requestSerialize as (x: unknown) => Buffer,
  decodeResponse: inference.ModelInfer!.responseDeserialize as Fn,
  encodeResponse: inference.ModelInfer!.responseSerialize as (x: unknown) => Buffer,
  decodeStream: inference.ModelStreamInfer!.responseDeserialize as Fn,
  encodeStream: inference.ModelStreamInfer!.responseSerialize as (x: unknown) => Buffer,
};

const unpackedRoot = protobuf.parse(
  readFileSync(`${PROTO_DIR}/${INFERENCE_PROTO}`, 'utf8').replace(
    /(repeated (?:bool|int32|int64|uint32|uint64|float|double) \w+ = \d+);/g,
    '$1 [packed = false];',
  ),
  { keepCase: true },
).root;
const unpackedRequest = unpackedRoot.lookupType('inference.ModelInferRequest');

/** The request encoded with every repeated scalar unpacked (one tag per value). */
export function encodeRequestUnpacked(obj: unknown): Buffer {
  return Buffer.from(unpackedRequest.encode(unpackedRequest.fromObject(obj as Record<string, unknown>)).finish());
}

export class Gen {
  readonly r: () => number;
  constructor(seed: number) {
    this.r = rng(seed);
  }
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.r() * (hi - lo + 1));
  }
  chance(p: number): boolean {
    return this.r() < p;
  }
  pick<T>(xs: readonly T[]): T {
    return xs[Math.floor(this.r() * xs.length)]!;
  }
  u32(): number {
    return Math.floor(this.r() * 4294967296);
  }
  /** Valid Unicode: ASCII, 2-, 3- and 4-byte (surrogate pair) characters. */
  str(max = 12): string {
    const parts = ['a', 'Z', '0', '_', '.', ' ', 'é', 'ß', '漢', '€', '😀', '\u0000'];
    let s = '';
    const n = this.int(0, max);
    for (let i = 0; i < n; i++) s += this.pick(parts);
    return s;
  }
  bytes(max = 40): Buffer {
    const b = Buffer.alloc(this.int(0, max));
    for (let i = 0; i < b.length; i++) b[i] = this.int(0, 255);
    return b;
  }
  /** An int64 as a decimal string or (sometimes) a number, across the whole range. */
  int64(): string | number {
    switch (this.int(0, 5)) {
      case 0:
        return this.int(-5, 300);
      case 1:
        return String(this.int(-1e6, 1e6));
      case 2:
        return this.pick(['9007199254740993', '-9007199254740993', '9223372036854775807', '-9223372036854775808', '-1', '0']);
      default:
        return BigInt.asIntN(64, (BigInt(this.u32()) << 32n) | BigInt(this.u32())).toString();
    }
  }
  uint64(): string | number {
    switch (this.int(0, 4)) {
      case 0:
        return this.int(0, 300);
      case 1:
        return this.pick(['9007199254740993', '18446744073709551615', '9223372036854775808', '0']);
      default:
        return ((BigInt(this.u32()) << 32n) | BigInt(this.u32())).toString();
    }
  }
  double(): number {
    return this.pick([() => this.r() * 1e6 - 5e5, () => this.int(-3, 3), () => this.pick([NaN, -0, Infinity, -Infinity, 1e-310, 1.5e300])])();
  }
  param(): Record<string, unknown> {
    switch (this.int(0, 4)) {
      case 0:
        return { bool_param: this.chance(0.5) };
      case 1:
        return { int64_param: this.int64() };
      case 2:
        return { string_param: this.str(30) };
      case 3:
        return { double_param: this.double() };
      default:
        return { uint64_param: this.uint64() };
    }
  }
  params(max: number): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    const n = this.int(0, max);
    for (let i = 0; i < n; i++) {
      // not 'constructor': an own 'constructor' key defeats vitest's toStrictEqual type check
      const key = this.chance(0.1) ? this.pick(['__proto__', 'toString', 'hasOwnProperty', '', '0', 'slackserve.latency_budget_ms']) : this.str(10);
      Object.defineProperty(out, key, { value: this.param(), enumerable: true, writable: true, configurable: true });
    }
    return out;
  }
  contents(): Record<string, unknown> {
    const c: Record<string, unknown> = {};
    const arr = <T>(f: () => T): T[] => Array.from({ length: this.int(0, 8) }, f);
    if (this.chance(0.4)) c['bool_contents'] = arr(() => this.chance(0.5));
    if (this.chance(0.4)) c['int_contents'] = arr(() => (this.u32() | 0) >> this.int(0, 31));
    if (this.chance(0.4)) c['int64_contents'] = arr(() => this.int64());
    if (this.chance(0.4)) c['uint_contents'] = arr(() => this.u32() >>> this.int(0, 31));
    if (this.chance(0.4)) c['uint64_contents'] = arr(() => this.uint64());
    if (this.chance(0.4)) c['fp32_contents'] = arr(() => Math.fround(this.double()));
    if (this.chance(0.4)) c['fp64_contents'] = arr(() => this.double());
    if (this.chance(0.4)) c['bytes_contents'] = arr(() => this.bytes(12));
    return c;
  }
  /** A random ModelInferRequest as an object for protobufjs's fromObject. */
  request(): Record<string, unknown> {
    const q: Record<string, unknown> = {};
    if (this.chance(0.8)) q['model_name'] = this.str();
    if (this.chance(0.5)) q['model_version'] = this.str(3);
    if (this.chance(0.7)) q['id'] = this.str();
    if (this.chance(0.7)) q['parameters'] = this.params(6);
    if (this.chance(0.9))
      q['inputs'] = Array.from({ length: this.int(0, 4) }, () => {
        const t: Record<string, unknown> = { name: this.str(8), datatype: this.pick(['FP32', 'INT64', 'BYTES', '']) };
        if (this.chance(0.9)) t['shape'] = Array.from({ length: this.int(0, 6) }, () => (this.chance(0.8) ? this.int(-1, 64) : this.int64()));
        if (this.chance(0.4)) t['parameters'] = this.params(3);
        if (this.chance(0.6)) t['contents'] = this.contents();
        return t;
      });
    if (this.chance(0.5))
      q['outputs'] = Array.from({ length: this.int(0, 3) }, () => {
        const o: Record<string, unknown> = { name: this.str(8) };
        if (this.chance(0.4)) o['parameters'] = this.params(3);
        return o;
      });
    if (this.chance(0.6)) q['raw_input_contents'] = Array.from({ length: this.int(0, 3) }, () => this.bytes());
    return q;
  }
  /** A random WireModelInferResponse-like object (int64s as numbers or strings). */
  response(): Record<string, unknown> {
    const long = (): unknown => this.pick([() => this.int64(), () => this.int(0, 64), () => this.pick([2.7, -2.7, NaN, 2 ** 60, -(2 ** 70), 1e30])])();
    const params = (max: number) => {
      const p = this.params(max) as Record<string, Record<string, unknown>>;
      for (const v of Object.values(p)) {
        if (this.chance(0.3)) v['parameter_choice'] = Object.keys(v)[0];
        if (v['int64_param'] !== undefined && this.chance(0.3)) v['int64_param'] = long();
      }
      return p;
    };
    const r: Record<string, unknown> = {};
    if (this.chance(0.9)) r['model_name'] = this.str();
    if (this.chance(0.9)) r['model_version'] = this.str(2);
    if (this.chance(0.9)) r['id'] = this.str();
    if (this.chance(0.8)) r['parameters'] = params(9);
    if (this.chance(0.9))
      r['outputs'] = Array.from({ length: this.int(0, 3) }, () => {
        const c = this.contents();
        if (c['int64_contents'] && this.chance(0.5)) c['int64_contents'] = (c['int64_contents'] as unknown[]).map(() => long());
        if (c['fp32_contents'] && this.chance(0.5)) c['fp32_contents'] = (c['fp32_contents'] as unknown[]).map(() => this.double());
        return {
          name: this.str(8),
          datatype: this.pick(['FP32', 'INT64']),
          shape: Array.from({ length: this.int(0, 3) }, () => (this.chance(0.7) ? this.int(0, 64) : long())),
          parameters: this.chance(0.3) ? params(2) : {},
          contents: this.chance(0.5) ? c : null,
        };
      });
    if (this.chance(0.6)) r['raw_output_contents'] = Array.from({ length: this.int(0, 3) }, () => this.bytes());
    return r;
  }
}
