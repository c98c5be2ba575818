/**
 * The hand-written inference wire decoder (src/api/infer-wire.ts) against protobufjs, the oracle:
 * proto-loader's own (de)serializers, never our encoder. Random requests (packed, unpacked,
 * concatenated), every field kind, zero-copy bytes, malformed input (truncations, garbage,
 * overlong varints, bad wire types), limits. The encoders' tests are in infer-wire-encode.test.ts.
 */
import protobuf from 'protobufjs';
import { describe, expect, it } from 'vitest';
import {
  decodeModelInferRequest,
  DEFAULT_WIRE_LIMITS,
  isWireDecodeFailure,
  WireDecodeFailure,
  type WireLimits,
} from '../../src/api/infer-wire.js';
import { fromWireParams } from '../../src/api/params.js';
import type { WireModelInferRequest } from '../../src/api/proto.js';
import { decodeGrpcInput, type TensorSpec } from '../../src/api/tensors.js';
import { rng } from '../helpers.js';
import { encodeRequestUnpacked, Gen, oracle } from '../wire-gen.js';

const ok = (x: ReturnType<typeof decodeModelInferRequest>): WireModelInferRequest => {
  if (isWireDecodeFailure(x)) throw new Error(`unexpected failure: ${x.code} ${x.message}`);
  return x;
};

function expectFailure(buf: Buffer, code: 'INPUT_INVALID' | 'LIMIT_EXCEEDED', re?: RegExp, limits?: WireLimits): WireDecodeFailure {
  const out = decodeModelInferRequest(buf, limits);
  expect(out).toBeInstanceOf(WireDecodeFailure);
  const f = out as WireDecodeFailure;
  expect(f.failure).toBe(true);
  expect(f.code, f.message).toBe(code);
  expect(f.message.length).toBeLessThanOrEqual(200);
  if (re) expect(f.message).toMatch(re);
  return f;
}

/** The top-level field boundaries of a message (where a prefix is itself a valid message). */
function topLevelBoundaries(buf: Buffer): Set<number> {
  const r = protobuf.Reader.create(buf);
  const out = new Set([0]);
  while (r.pos < r.len) {
    r.skipType(r.uint32() & 7);
    out.add(r.pos);
  }
  return out;
}

const varint = (n: number): number[] => {
  const out: number[] = [];
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return out;
};
const ld = (field: number, body: number[] | Buffer): number[] => [(field << 3) | 2, ...varint(body.length), ...body];
const str = (field: number, s: string): number[] => ld(field, Buffer.from(s));

/** A hand-built request touching every field, with typed contents of every kind. */
const FULL = {
  model_name: 'fmnist-resnet',
  model_version: '1',
  id: 'req-1',
  parameters: {
    'slackserve.latency_budget_ms': { double_param: 25 },
    'slackserve.deadline_unix_ms': { int64_param: '1795000000000' },
    'slackserve.sheddable': { bool_param: false },
    'slackserve.slo_class': { string_param: 'gold' },
    big: { uint64_param: '18446744073709551615' },
    neg: { int64_param: '-9223372036854775808' },
  },
  inputs: [
    {
      name: 'input',
      datatype: 'FP32',
      shape: [2, 1, 28, 28],
      parameters: { binary_data_size: { int64_param: 6272 } },
      contents: {
        bool_contents: [true, false, true],
        int_contents: [-1, 0, 2147483647, -2147483648],
        int64_contents: ['-1', '9007199254740993', '-9223372036854775808'],
        uint_contents: [0, 4294967295],
        uint64_contents: ['18446744073709551615', '1'],
        fp32_contents: [1.5, -0, Math.fround(0.1)],
        fp64_contents: [0.1, -1e300, NaN],
        bytes_contents: [Buffer.from('abc'), Buffer.alloc(0)],
      },
    },
    { name: 'second', datatype: 'INT64', shape: ['-1', '9223372036854775807'] },
  ],
  outputs: [{ name: 'logits', parameters: { binary_data: { bool_param: true } } }, { name: 'class' }],
  raw_input_contents: [Buffer.alloc(6272, 7), Buffer.from([1, 2, 3])],
};

describe('decodeModelInferRequest agrees with protobufjs', () => {
  it('decodes every field of a full request (packed and unpacked) exactly as proto-loader does', () => {
    for (const buf of [oracle.encodeRequest(FULL), encodeRequestUnpacked(FULL)]) {
      const mine = ok(decodeModelInferRequest(buf));
      expect(mine).toStrictEqual(oracle.decodeRequest(buf));
      expect(mine.parameters!['big']).toEqual({ uint64_param: '18446744073709551615', parameter_choice: 'uint64_param' });
      expect(mine.parameters!['neg']).toEqual({ int64_param: '-9223372036854775808', parameter_choice: 'int64_param' });
      expect(mine.inputs![1]!.contents).toBeNull();
    }
  });

  it('decodes the empty message to all defaults', () => {
    const mine = ok(decodeModelInferRequest(Buffer.alloc(0)));
    expect(mine).toStrictEqual(oracle.decodeRequest(Buffer.alloc(0)));
    expect(mine).toStrictEqual({ model_name: '', model_version: '', id: '', parameters: {}, inputs: [], outputs: [], raw_input_contents: [] });
  });

  it('agrees on 600 seeded random requests: packed, unpacked and concatenated encodings', () => {
    const g = new Gen(20261122);
    for (let i = 0; i < 600; i++) {
      const a = g.request();
      const b = g.request();
      const encodings = [oracle.encodeRequest(a), encodeRequestUnpacked(a), Buffer.concat([oracle.encodeRequest(a), encodeRequestUnpacked(b)])];
      for (const buf of encodings) expect(decodeModelInferRequest(buf), `request ${i}`).toStrictEqual(oracle.decodeRequest(buf));
    }
  });

  it('decodes long packed float runs (the bulk path) at every alignment, appended across repeats', () => {
    const g = new Gen(5);
    for (let shift = 0; shift < 8; shift++) {
      const contents = { fp32_contents: Array.from({ length: 784 }, () => Math.fround(g.double())), fp64_contents: Array.from({ length: 33 }, () => g.double()) };
      // the id's length moves the offset of the packed runs by one byte per step
      const one = oracle.encodeRequest({ id: 'x'.repeat(shift), inputs: [{ name: 'input', contents }] });
      const second = oracle.encodeRequest({ inputs: [{ contents }] });
      for (const buf of [one, Buffer.concat([one, second])]) expect(decodeModelInferRequest(buf)).toStrictEqual(oracle.decodeRequest(buf));
    }
    // two packed runs in one contents message: the second appends to the first
    const twice = Buffer.from(ld(5, ld(5, [...ld(6, Buffer.alloc(40, 0x3f)), ...ld(6, Buffer.alloc(36, 0x40))])));
    expect(ok(decodeModelInferRequest(twice)).inputs![0]!.contents!.fp32_contents).toHaveLength(19);
    expect(decodeModelInferRequest(twice)).toStrictEqual(oracle.decodeRequest(twice));
  });

  it('gives the downstream decoders (decodeGrpcInput, fromWireParams) the same results', () => {
    const spec: TensorSpec = { inputName: 'input', sampleShape: [1, 28, 28], classes: 10, maxBatch: 8 };
    const image = new Float32Array(784).map((_, i) => i / 784);
    for (const raw of [true, false]) {
      const req = {
        model_name: 'm',
        id: 'x',
        parameters: { 'slackserve.latency_budget_ms': { double_param: 20 }, 'slackserve.min_accuracy': { double_param: 0.8 } },
        inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 1, 28, 28], ...(raw ? {} : { contents: { fp32_contents: Array.from(image) } }) }],
        outputs: [{ name: 'class' }],
        ...(raw ? { raw_input_contents: [Buffer.from(image.buffer)] } : {}),
      };
      const buf = oracle.encodeRequest(req);
      const mine = ok(decodeModelInferRequest(buf));
      const theirs = oracle.decodeRequest(buf) as WireModelInferRequest;
      expect(decodeGrpcInput(mine, spec)).toStrictEqual(decodeGrpcInput(theirs, spec));
      expect(fromWireParams(mine.parameters)).toStrictEqual(fromWireParams(theirs.parameters));
    }
  });

  it('skips unknown fields of every wire type (groups included) as protobufjs does', () => {
    const tag = (field: number, wt: number) => varint(field * 8 + wt);
    const unknown = [
      ...[...tag(100, 0), ...varint(300)], // varint
      ...[...tag(101, 1), 1, 2, 3, 4, 5, 6, 7, 8], // fixed64
      ...[...tag(102, 2), 3, 9, 9, 9], // length-delimited
      ...[...tag(103, 5), 1, 2, 3, 4], // fixed32
      ...[...tag(104, 3), ...tag(1, 0), 5, ...tag(2, 3), ...tag(3, 5), 0, 0, 0, 0, ...tag(2, 4), ...tag(104, 4)], // nested groups
      ...[...tag(536870911, 0), 1], // the largest field number
    ];
    const known = oracle.encodeRequest(FULL);
    // unknown fields inside the nested messages too: an input, a parameter entry and its value
    const nested = [...ld(5, [...str(1, 'in'), ...unknown]), ...ld(4, [...str(1, 'k'), ...ld(2, [8, 1, ...unknown]), ...unknown])];
    const buf = Buffer.from([...unknown, ...known, ...unknown, ...nested]);
    const mine = ok(decodeModelInferRequest(buf));
    expect(mine).toStrictEqual(oracle.decodeRequest(buf));
    expect(mine.parameters!['k']).toEqual({ bool_param: true, parameter_choice: 'bool_param' });
  });
});

describe('zero copy', () => {
  it('raw_input_contents and bytes_contents are views into the received buffer', () => {
    const buf = oracle.encodeRequest(FULL);
    const mine = ok(decodeModelInferRequest(buf));
    const raw = mine.raw_input_contents![0]!;
    expect(raw.buffer).toBe(buf.buffer);
    expect(raw.byteOffset).toBeGreaterThanOrEqual(buf.byteOffset);
    expect(raw.byteOffset + raw.byteLength).toBeLessThanOrEqual(buf.byteOffset + buf.byteLength);
    const at = raw.byteOffset - buf.byteOffset;
    buf[at] = 99; // a write to the input shows through: it is the same memory
    expect(raw[0]).toBe(99);
    const bytes = mine.inputs![0]!.contents!.bytes_contents![0]!;
    expect(bytes.buffer).toBe(buf.buffer);
    expect(Buffer.from(bytes).toString()).toBe('abc');
  });

  it('views into a Uint8Array that is not a Buffer as well', () => {
    const buf = oracle.encodeRequest({ raw_input_contents: [Buffer.from([1, 2, 3])] });
    const arr = new Uint8Array(buf.length + 8).subarray(4, 4 + buf.length);
    arr.set(buf);
    const raw = ok(decodeModelInferRequest(arr)).raw_input_contents![0]!;
    expect(raw.buffer).toBe(arr.buffer);
    expect([...raw]).toEqual([1, 2, 3]);
  });
});

describe('malformed input: INPUT_INVALID, never a throw', () => {
  it('every prefix is either a valid message equal to protobufjs, or INPUT_INVALID', () => {
    const g = new Gen(7);
    const messages = [oracle.encodeRequest(FULL), encodeRequestUnpacked(FULL), ...Array.from({ length: 20 }, () => oracle.encodeRequest(g.request()))];
    let invalidCount = 0;
    for (const buf of messages) {
      const boundaries = topLevelBoundaries(buf);
      for (let n = 0; n < buf.length; n++) {
        const prefix = buf.subarray(0, n);
        if (boundaries.has(n)) {
          expect(decodeModelInferRequest(prefix)).toStrictEqual(oracle.decodeRequest(prefix));
        } else {
          expectFailure(prefix, 'INPUT_INVALID');
          invalidCount++;
        }
      }
    }
    expect(invalidCount).toBeGreaterThan(1000);
  });

  it('seeded random garbage and mutated messages never throw; garbage almost always fails', () => {
    const random = rng(42);
    let failures = 0;
    const N = 20_000;
    for (let i = 0; i < N; i++) {
      const buf = Buffer.alloc(Math.floor(random() * 256));
      for (let j = 0; j < buf.length; j++) buf[j] = Math.floor(random() * 256);
      const out = decodeModelInferRequest(buf);
      if (isWireDecodeFailure(out)) {
        failures++;
        expect(['INPUT_INVALID', 'LIMIT_EXCEEDED']).toContain(out.code);
        expect(out.message.length).toBeLessThanOrEqual(200);
      }
    }
    expect(failures / N).toBeGreaterThan(0.95);
    const valid = oracle.encodeRequest(FULL);
    for (let i = 0; i < 5_000; i++) {
      const buf = Buffer.from(valid);
      for (let k = 0; k < 1 + Math.floor(random() * 3); k++) buf[Math.floor(random() * buf.length)] = Math.floor(random() * 256);
      const out = decodeModelInferRequest(buf);
      expect(typeof out).toBe('object');
    }
  });

  it('rejects overlong varints (tag, length, value)', () => {
    const eleven = [...Array(10).fill(0x80), 0x01];
    expectFailure(Buffer.from(eleven), 'INPUT_INVALID', /overlong varint/);
    expectFailure(Buffer.from([0x0a, ...eleven]), 'INPUT_INVALID', /overlong varint/);
    expectFailure(Buffer.from(ld(4, [...str(1, 'k'), ...ld(2, [0x10, ...eleven])])), 'INPUT_INVALID', /overlong varint/);
    // ten bytes are fine (-1 as int64), and a tag of 2^32 or more is not a tag
    expect(ok(decodeModelInferRequest(Buffer.from(ld(4, ld(2, [0x10, ...Array(9).fill(0xff), 0x01]))))).parameters).toEqual({
      '': { int64_param: '-1', parameter_choice: 'int64_param' },
    });
    expectFailure(Buffer.from([0x80, 0x80, 0x80, 0x80, 0x10]), 'INPUT_INVALID', /invalid field tag/);
  });

  it('rejects bad wire types, field number 0, stray group ends and wrong wire types of known fields', () => {
    expectFailure(Buffer.from([(1 << 3) | 6, 0]), 'INPUT_INVALID', /invalid wire type 6/);
    expectFailure(Buffer.from(varint(200 * 8 + 7)), 'INPUT_INVALID', /invalid wire type 7/);
    expectFailure(Buffer.from([0x02, 0x00]), 'INPUT_INVALID', /invalid field tag/);
    expectFailure(Buffer.from([(9 << 3) | 4]), 'INPUT_INVALID', /group end/);
    expectFailure(Buffer.from([(9 << 3) | 3, (10 << 3) | 4]), 'INPUT_INVALID', /group end for field 10 closes group 9/);
    expectFailure(Buffer.from([0x08, 0x01]), 'INPUT_INVALID', /ModelInferRequest field 1 has wire type 0/); // model_name as varint
    expectFailure(Buffer.from([(7 << 3) | 5, 1, 2, 3, 4]), 'INPUT_INVALID', /field 7 has wire type 5/);
    expectFailure(Buffer.from(ld(5, [(3 << 3) | 1, 0, 0, 0, 0, 0, 0, 0, 0])), 'INPUT_INVALID', /InferInputTensor field 3/);
    expectFailure(Buffer.from(ld(4, ld(2, [(1 << 3) | 2, 0]))), 'INPUT_INVALID', /InferParameter field 1/);
    expectFailure(Buffer.from(ld(5, ld(5, [(6 << 3) | 1, 0, 0, 0, 0, 0, 0, 0, 0]))), 'INPUT_INVALID', /InferTensorContents field 6/);
    const deep = [...Array(40).fill((9 << 3) | 3), ...Array(40).fill((9 << 3) | 4)];
    expectFailure(Buffer.from(deep), 'INPUT_INVALID', /nested deeper than 32/);
  });

  it('rejects lengths past the end of the message or of the enclosing submessage', () => {
    expectFailure(Buffer.from([0x0a, 0x05, 0x61]), 'INPUT_INVALID', /model_name: length at byte 1 runs past/);
    expectFailure(Buffer.from([0x3a, 0x80, 0x80, 0x80, 0x80, 0x08]), 'INPUT_INVALID', /raw_input_contents/);
    // the input is 3 bytes long, its name claims 5: it must not read into the next field
    expectFailure(Buffer.from([...ld(5, [0x0a, 0x05, 0x61]), ...str(1, 'abcd')]), 'INPUT_INVALID', /input name/);
    expectFailure(Buffer.from(ld(5, ld(5, [(6 << 3) | 2, 5, 0, 0, 0, 0, 0]))), 'INPUT_INVALID', /fp32_contents: packed length 5 is not a multiple of 4/);
    expectFailure(Buffer.from(ld(5, ld(5, [(7 << 3) | 2, 4, 0, 0, 0, 0]))), 'INPUT_INVALID', /fp64_contents/);
    expectFailure(Buffer.from(ld(5, [(3 << 3) | 2, 2, 0x80, 0x80])), 'INPUT_INVALID', /truncated/);
  });

  it('follows the protobuf specification where protobufjs has no answer', () => {
    // a map entry without a value: protobufjs throws from toObject (grpc-js would say INTERNAL)
    const noValue = Buffer.from(ld(4, str(1, 'k')));
    expect(() => oracle.decodeRequest(noValue)).toThrow();
    expect(ok(decodeModelInferRequest(noValue)).parameters).toStrictEqual({ k: {} });
    // two oneof members: the last on the wire wins
    const two = Buffer.from(ld(4, [...str(1, 'k'), ...ld(2, [(5 << 3) | 0, 7, (1 << 3) | 0, 1])]));
    expect(ok(decodeModelInferRequest(two)).parameters).toStrictEqual({ k: { bool_param: true, parameter_choice: 'bool_param' } });
    // a bool whose only set bit is above bit 31 is true
    const high = Buffer.from(ld(4, ld(2, [0x08, 0x80, 0x80, 0x80, 0x80, 0x10])));
    expect(ok(decodeModelInferRequest(high)).parameters!['']).toEqual({ bool_param: true, parameter_choice: 'bool_param' });
  });

  it('decodes invalid UTF-8 lossily, exactly as protobufjs does', () => {
    const buf = Buffer.from([0x0a, 4, 0x61, 0xff, 0xc3, 0x62, 0x1a, 3, 0xed, 0xa0, 0x80]);
    expect(decodeModelInferRequest(buf)).toStrictEqual(oracle.decodeRequest(buf));
    expect(ok(decodeModelInferRequest(buf)).model_name).toBe('a\ufffd\ufffdb');
  });

  it('keeps "__proto__" as an ordinary parameter name', () => {
    const buf = Buffer.from(ld(4, [...str(1, '__proto__'), ...ld(2, [8, 1])]));
    const params = ok(decodeModelInferRequest(buf)).parameters!;
    expect(Object.getPrototypeOf(params)).toBe(Object.prototype);
    expect(Object.keys(params)).toEqual(['__proto__']);
    expect(params).toStrictEqual(oracle.decodeRequest(buf).parameters);
  });
});

describe('limits', () => {
  const repeat = (entry: number[], n: number): Buffer => {
    const one = Buffer.from(entry);
    const buf = Buffer.allocUnsafe(one.length * n);
    for (let i = 0; i < n; i++) one.copy(buf, i * one.length);
    return buf;
  };

  it('has the documented defaults', () => {
    expect(DEFAULT_WIRE_LIMITS).toEqual({
      maxRequestParameters: 64,
      maxTensorParameters: 64,
      maxInputs: 16,
      maxOutputs: 16,
      maxShapeDims: 8,
      maxNameBytes: 256,
      maxStringParamBytes: 4096,
      maxContentsElements: 1 << 20,
      maxBytesContents: 4096,
      maxUnknownFields: 256,
    });
    expect(Object.isFrozen(DEFAULT_WIRE_LIMITS)).toBe(true);
  });

  it('rejects 600,000 request parameters with LIMIT_EXCEEDED (it returns; no timing asserted)', () => {
    const buf = repeat(ld(4, [...str(1, 'a'), ...ld(2, [8, 1])]), 600_000);
    const f = expectFailure(buf, 'LIMIT_EXCEEDED', /maxRequestParameters = 64/);
    expect(f.message.length).toBeLessThan(300);
    // 64 (the limit itself) is fine
    expect(Object.keys(ok(decodeModelInferRequest(repeat(ld(4, [...str(1, 'a'), ...ld(2, [8, 1])]), 64))).parameters!)).toEqual(['a']);
  });

  it('rejects 10,000 inputs with LIMIT_EXCEEDED', () => {
    const f = expectFailure(repeat(ld(5, []), 10_000), 'LIMIT_EXCEEDED', /too many inputs \(limit maxInputs = 16\)/);
    expect(f.message.length).toBeLessThan(300);
    expect(ok(decodeModelInferRequest(repeat(ld(5, []), 16))).inputs).toHaveLength(16);
  });

  it('bounds every other count and length', () => {
    const param = (k: string, v: number[]) => ld(4, [...str(1, k), ...ld(2, v)]);
    const inTensor = (body: number[]) => Buffer.from(ld(5, body));
    expectFailure(repeat(ld(6, []), 17), 'LIMIT_EXCEEDED', /maxOutputs = 16/);
    expectFailure(repeat([0x3a, 0], 17), 'LIMIT_EXCEEDED', /raw_input_contents.*maxInputs = 16/);
    expectFailure(inTensor([...repeat(param('p', [8, 1]), 65)]), 'LIMIT_EXCEEDED', /maxTensorParameters = 64/);
    expectFailure(Buffer.from(ld(6, [...repeat(ld(2, [...str(1, 'p'), ...ld(2, [8, 1])]), 65)])), 'LIMIT_EXCEEDED', /maxTensorParameters/);
    expectFailure(inTensor(ld(3, Array(9).fill(1))), 'LIMIT_EXCEEDED', /maxShapeDims = 8/);
    expectFailure(inTensor([...repeat([0x18, 1], 9)]), 'LIMIT_EXCEEDED', /maxShapeDims = 8/);
    expectFailure(Buffer.from(str(1, 'x'.repeat(257))), 'LIMIT_EXCEEDED', /model_name is longer than 256 bytes \(limit maxNameBytes = 256\)/);
    expectFailure(Buffer.from(param('x'.repeat(300), [8, 1])), 'LIMIT_EXCEEDED', /parameter name/);
    expectFailure(Buffer.from(param('s', str(3, 'y'.repeat(4097)))), 'LIMIT_EXCEEDED', /maxStringParamBytes = 4096/);
    expect(ok(decodeModelInferRequest(Buffer.from(param('s', str(3, 'y'.repeat(4096))))))).toBeTruthy();
    // a packed fp32 run over the budget is refused before any value is read
    const fp32 = (n: number) => Buffer.from(ld(5, ld(5, ld(6, Array(n * 4).fill(0)))));
    const small: WireLimits = { ...DEFAULT_WIRE_LIMITS, maxContentsElements: 1000 };
    expect(ok(decodeModelInferRequest(fp32(1000), small)).inputs![0]!.contents!.fp32_contents).toHaveLength(1000);
    expectFailure(fp32(1001), 'LIMIT_EXCEEDED', /maxContentsElements = 1000/, small);
    // the contents budget is per request, across inputs
    expectFailure(Buffer.concat([fp32(600), fp32(600)]), 'LIMIT_EXCEEDED', /maxContentsElements/, small);
    expectFailure(Buffer.from(ld(5, ld(5, [...repeat([0x10, 1], 1001)]))), 'LIMIT_EXCEEDED', /maxContentsElements/, small);
    expectFailure(Buffer.from(ld(5, ld(5, [...repeat([0x42, 0], 4097)]))), 'LIMIT_EXCEEDED', /maxBytesContents = 4096/);
    expectFailure(repeat([...varint(99 * 8), 1], 257), 'LIMIT_EXCEEDED', /unknown fields \(limit maxUnknownFields = 256\)/);
    expect(ok(decodeModelInferRequest(repeat([...varint(99 * 8), 1], 256)))).toBeTruthy();
  });

  it('stops at the limit in a huge packed shape without reading it all', () => {
    const dims = Buffer.alloc(4_000_000, 1); // 4M one-byte varints
    const shapeHeader = [0x1a, ...varint(dims.length)];
    const buf = Buffer.concat([Buffer.from([0x2a, ...varint(dims.length + shapeHeader.length), ...shapeHeader]), dims]);
    expectFailure(buf, 'LIMIT_EXCEEDED', /maxShapeDims/);
  });

  it('takes custom limits', () => {
    const lim: WireLimits = { ...DEFAULT_WIRE_LIMITS, maxInputs: 1 };
    expectFailure(Buffer.from([...ld(5, []), ...ld(5, [])]), 'LIMIT_EXCEEDED', /maxInputs = 1/, lim);
  });
});
