import { describe, expect, it } from 'vitest';
import { SlackserveError } from '../../src/errors.js';
import { loadProtos, type WireModelInferRequest, type WireModelInferResponse } from '../../src/api/proto.js';
import { decodeRestInfer, encodeRestResponse } from '../../src/api/tensors-rest.js';
import {
  decodeGrpcInput,
  encodeGrpcResponse,
  float32FromLE,
  float32ToLE,
  modelMetadataFromManifest,
  servedByParams,
  servedByWireParams,
  tensorSpecOf,
} from '../../src/api/tensors.js';
import { toWireParams } from '../../src/api/params.js';
import type { InferAnswer, ServedBy } from '../../src/api/types.js';
import type { Manifest } from '../../src/supernet/manifest-types.js';
import { readManifestJson } from '../helpers.js';

const manifest = readManifestJson() as unknown as Manifest;
const META = modelMetadataFromManifest(manifest, { maxBatch: 4 });
const SPEC = tensorSpecOf(META);
const SAMPLE = 28 * 28;

function samples(batch: number): Float32Array {
  const a = new Float32Array(batch * SAMPLE);
  for (let i = 0; i < a.length; i++) a[i] = Math.fround(((i * 7919) % 1000) / 250 - 2);
  return a;
}

function rawRequest(batch: number, data = samples(batch)): WireModelInferRequest {
  return {
    model_name: 'fmnist-resnet',
    inputs: [{ name: 'image', datatype: 'FP32', shape: [String(batch), '1', '28', '28'] }],
    raw_input_contents: [float32ToLE(data)],
  };
}

function typedRequest(batch: number, data = samples(batch)): WireModelInferRequest {
  return {
    model_name: 'fmnist-resnet',
    inputs: [{ name: 'image', datatype: 'FP32', shape: [batch, 1, 28, 28], contents: { fp32_contents: Array.from(data) } }],
  };
}

function invalid(fn: () => unknown, ...fragments: string[]): void {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(caught, `expected INPUT_INVALID containing ${fragments.join(' / ')}`).toBeInstanceOf(SlackserveError);
  expect((caught as SlackserveError).code).toBe('INPUT_INVALID');
  for (const f of fragments) expect((caught as SlackserveError).message).toContain(f);
}

describe('model metadata from the manifest', () => {
  it('has the manifest input and the logits/class outputs', () => {
    expect(META.inputs).toEqual([{ name: manifest.input.name, datatype: 'FP32', shape: [-1, 1, 28, 28] }]);
    expect(META.outputs).toEqual([
      { name: 'logits', datatype: 'FP32', shape: [-1, manifest.dataset.classes.length] },
      { name: 'class', datatype: 'INT64', shape: [-1] },
    ]);
    expect(SPEC).toEqual({ inputName: 'image', sampleShape: [1, 28, 28], classes: 10, maxBatch: 4, labels: manifest.dataset.classes });
  });
});

describe('decodeGrpcInput', () => {
  it('raw and typed contents decode to identical data', () => {
    const data = samples(3);
    const raw = decodeGrpcInput(rawRequest(3, data), SPEC);
    const typed = decodeGrpcInput(typedRequest(3, data), SPEC);
    expect(raw.tensor.batch).toBe(3);
    expect(raw.tensor.shape).toEqual([3, 1, 28, 28]);
    expect(raw.wantsRaw).toBe(true);
    expect(typed.wantsRaw).toBe(false);
    expect(raw.tensor.data).toEqual(data);
    expect(typed.tensor.data).toEqual(data);
    expect(raw.outputs).toEqual(['logits', 'class']);
  });

  it('decodes raw bytes at an unaligned offset (a slice of a larger protobuf buffer)', () => {
    const data = samples(1);
    const backing = Buffer.alloc(SAMPLE * 4 + 3);
    float32ToLE(data).copy(backing, 3);
    const req = rawRequest(1);
    req.raw_input_contents = [backing.subarray(3)];
    expect(decodeGrpcInput(req, SPEC).tensor.data).toEqual(data);
  });

  it('counts inputs and raw contents', () => {
    invalid(() => decodeGrpcInput({ ...rawRequest(1), inputs: [] }, SPEC), 'no input tensor', "'image'");
    const two = rawRequest(1);
    two.inputs = [two.inputs![0]!, { name: 'mask', datatype: 'FP32', shape: ['1'] }];
    invalid(() => decodeGrpcInput(two, SPEC), "2 input tensors ('image', 'mask')");
    const extraRaw = rawRequest(1);
    extraRaw.raw_input_contents!.push(Buffer.alloc(4));
    invalid(() => decodeGrpcInput(extraRaw, SPEC), 'raw_input_contents has 2 entries for 1 input');
  });

  it('checks the input name and datatype', () => {
    const r = rawRequest(1);
    r.inputs![0]!.name = 'input';
    invalid(() => decodeGrpcInput(r, SPEC), "unknown input 'input'", "the model's input is 'image'");
    const d = rawRequest(1);
    d.inputs![0]!.datatype = 'FP16';
    invalid(() => decodeGrpcInput(d, SPEC), "input 'image': datatype 'FP16' is not supported");
    const lower = rawRequest(1);
    lower.inputs![0]!.datatype = 'fp32';
    invalid(() => decodeGrpcInput(lower, SPEC), "datatype 'fp32'");
  });

  it('checks the shape: [batch, ...sample], 1 <= batch <= maxBatch', () => {
    const shaped = (shape: string[]) => {
      const r = rawRequest(1);
      r.inputs![0]!.shape = shape;
      return r;
    };
    invalid(() => decodeGrpcInput(shaped(['2', '1', '28']), SPEC), "input 'image': shape [2,1,28] does not match [batch,1,28,28]");
    invalid(() => decodeGrpcInput(shaped(['1', '28', '28']), SPEC), 'shape [1,28,28] does not match [batch,1,28,28]');
    invalid(() => decodeGrpcInput(shaped(['1', '1', '28', '27']), SPEC), 'does not match');
    invalid(() => decodeGrpcInput(shaped(['1', '1', '28', '28', '1']), SPEC), 'does not match');
    invalid(() => decodeGrpcInput(shaped(['0', '1', '28', '28']), SPEC), 'batch dimension is 0');
    invalid(() => decodeGrpcInput(shaped(['-1', '1', '28', '28']), SPEC), 'negative dimension');
    invalid(() => decodeGrpcInput(shaped(['5', '1', '28', '28']), SPEC), 'batch 5 exceeds the maximum batch size 4');
    invalid(() => decodeGrpcInput(shaped(['99999999999999999999', '1', '28', '28']), SPEC), 'not an integer in range');
  });

  it('checks the byte length of raw content exactly', () => {
    const short = rawRequest(2);
    short.raw_input_contents = [float32ToLE(samples(2)).subarray(0, SAMPLE * 8 - 1)];
    invalid(() => decodeGrpcInput(short, SPEC), `raw content has ${SAMPLE * 8 - 1} bytes, expected ${SAMPLE * 8}`);
    const long = rawRequest(1);
    long.raw_input_contents = [Buffer.alloc(SAMPLE * 4 + 4)];
    invalid(() => decodeGrpcInput(long, SPEC), 'expected 3136');
  });

  it('checks typed contents: count, field, exclusivity with raw, presence', () => {
    const few = typedRequest(2);
    few.inputs![0]!.contents!.fp32_contents!.pop();
    invalid(() => decodeGrpcInput(few, SPEC), `fp32_contents has ${2 * SAMPLE - 1} values, expected ${2 * SAMPLE}`);
    const wrongField = typedRequest(1);
    wrongField.inputs![0]!.contents = { int_contents: [1, 2, 3] };
    invalid(() => decodeGrpcInput(wrongField, SPEC), 'FP32 data belongs in contents.fp32_contents, got int_contents');
    const both = rawRequest(1);
    both.inputs![0]!.contents = { fp32_contents: [1] };
    invalid(() => decodeGrpcInput(both, SPEC), 'raw_input_contents is given, so contents must be empty');
    const none = typedRequest(1);
    none.inputs![0]!.contents = null;
    invalid(() => decodeGrpcInput(none, SPEC), 'no data');
  });

  it('rejects NaN and infinities, naming the element and sample', () => {
    const data = samples(2);
    data[SAMPLE + 5] = NaN;
    invalid(() => decodeGrpcInput(rawRequest(2, data), SPEC), `non-finite value NaN at element ${SAMPLE + 5} (sample 1)`);
    const inf = samples(1);
    inf[0] = -Infinity;
    invalid(() => decodeGrpcInput(typedRequest(1, inf), SPEC), 'non-finite value -Infinity at element 0 (sample 0)');
  });

  it('checks requested outputs', () => {
    const r = rawRequest(1);
    r.outputs = [{ name: 'class' }];
    expect(decodeGrpcInput(r, SPEC).outputs).toEqual(['class']);
    r.outputs = [{ name: 'probs' }];
    invalid(() => decodeGrpcInput(r, SPEC), "unknown output 'probs'", "'logits', 'class'");
    r.outputs = [{ name: 'logits' }, { name: 'logits' }];
    invalid(() => decodeGrpcInput(r, SPEC), "output 'logits' is requested twice");
  });
});

describe('decodeRestInfer', () => {
  const body = (over: Record<string, unknown> = {}, input: Record<string, unknown> = {}) => ({
    id: 'r1',
    inputs: [{ name: 'image', shape: [2, 1, 28, 28], datatype: 'FP32', data: Array.from(samples(2)), ...input }],
    ...over,
  });

  it('takes 64 parameters and refuses 65 with LIMIT_EXCEEDED (HTTP 413), naming the limit', () => {
    const params = (n: number): Record<string, number> => Object.fromEntries(Array.from({ length: n }, (_, i) => [`p${i}`, i]));
    expect(decodeRestInfer(body({ parameters: params(64) }), SPEC).params.size).toBe(64);
    try {
      decodeRestInfer(body({ parameters: params(65) }), SPEC);
      expect.unreachable();
    } catch (e) {
      expect((e as SlackserveError).code).toBe('LIMIT_EXCEEDED');
      expect((e as SlackserveError).status.http).toBe(413);
      expect((e as Error).message).toMatch(/more than 64/);
    }
  });

  it('decodes flat and nested data to the same tensor as gRPC', () => {
    const data = samples(2);
    const flat = decodeRestInfer(body(), SPEC);
    expect(flat.id).toBe('r1');
    expect(flat.tensor.data).toEqual(data);
    const nested = Array.from({ length: 2 }, (_, b) => [
      Array.from({ length: 28 }, (_, y) => Array.from(data.subarray(b * SAMPLE + y * 28, b * SAMPLE + y * 28 + 28))),
    ]);
    expect(decodeRestInfer(body({}, { data: nested }), SPEC).tensor.data).toEqual(data);
    expect(decodeGrpcInput(rawRequest(2, data), SPEC).tensor.data).toEqual(flat.tensor.data);
  });

  it('reads parameters and outputs', () => {
    const d = decodeRestInfer(body({ parameters: { 'slackserve.latency_budget_ms': 20 }, outputs: [{ name: 'class' }] }), SPEC);
    expect(d.params.get('slackserve.latency_budget_ms')).toEqual({ kind: 'int64', value: 20n });
    expect(d.outputs).toEqual(['class']);
    expect([...decodeRestInfer(body({ outputs: [{ name: 'logits', parameters: { binary_data: true } }] }), SPEC).options.binary]).toEqual(['logits']);
    invalid(() => decodeRestInfer(body({ outputs: [{ name: 'logits', parameters: { binary_data: 'yes' } }] }), SPEC), 'binary_data must be true or false');
    invalid(() => decodeRestInfer(body({ outputs: [{ name: 'x' }] }), SPEC), "unknown output 'x'");
    invalid(() => decodeRestInfer(body({ outputs: 'logits' }), SPEC), 'outputs must be an array');
  });

  it('rejects every malformed body precisely', () => {
    invalid(() => decodeRestInfer([], SPEC), 'request body must be a JSON object, got an array');
    invalid(() => decodeRestInfer(body({ id: 5 }), SPEC), 'id must be a string');
    invalid(() => decodeRestInfer(body({ inputs: {} }), SPEC), 'inputs must be an array');
    invalid(() => decodeRestInfer(body({ inputs: [] }), SPEC), 'no input tensor');
    invalid(() => decodeRestInfer(body({}, { name: 'x' }), SPEC), 'unknown input "x"');
    invalid(() => decodeRestInfer(body({}, { datatype: 'INT8' }), SPEC), 'datatype "INT8" is not supported');
    invalid(() => decodeRestInfer(body({}, { shape: [2, 1, 28] }), SPEC), "input 'image': shape [2,1,28] does not match [batch,1,28,28]");
    invalid(() => decodeRestInfer(body({}, { shape: '2x1x28x28' }), SPEC), 'shape must be an array');
    invalid(() => decodeRestInfer(body({}, { shape: [2.5, 1, 28, 28] }), SPEC), 'not an integer');
    invalid(() => decodeRestInfer(body({}, { data: [1, 2, 3] }), SPEC), `data has 3 values, expected ${2 * SAMPLE}`);
    invalid(() => decodeRestInfer(body({}, { data: 'abc' }), SPEC), 'data must be an array');
    const withString: unknown[] = Array.from(samples(2));
    withString[7] = '0.5';
    invalid(() => decodeRestInfer(body({}, { data: withString }), SPEC), 'element 7 of data is string');
    invalid(() => decodeRestInfer(body({}, { data: [[1, 2]] }), SPEC), 'data has 1 entries', 'needs 2 at depth 0');
    invalid(() => decodeRestInfer(body({}, { parameters: { binary_data_size: 100 } }), SPEC), 'binary tensor data extension');
    const huge = Array.from(samples(2));
    huge[3] = 1e39; // beyond FP32: Infinity
    invalid(() => decodeRestInfer(body({}, { data: huge }), SPEC), 'non-finite value Infinity at element 3');
    invalid(() => decodeRestInfer(body({ parameters: 'x' }), SPEC), 'parameters must be a JSON object');
  });
});

describe('servedByWireParams', () => {
  it('is what the generic path (servedByParams, then toWireParams) builds, keys in the same order', () => {
    const base = { subnet: 'r20_d111_w16-32-64', exit: 'final', confidence: 0.91, queueUs: 1234.4, computeUs: 5678.6, deadlineMet: true, downgraded: false };
    const variants: ServedBy[] = [
      base,
      { ...base, serverUs: 9000.5, outputUs: 310.4, early: true, deadlineAnswer: false },
      { ...base, exit: 's2', confidence: 0, queueUs: 0, computeUs: 1e9 + 0.5, serverUs: 0, deadlineMet: false, downgraded: true, deadlineAnswer: true },
      { ...base, subnet: 'é-unicode', early: false },
    ];
    for (const s of variants) {
      const direct = servedByWireParams(s);
      const generic = toWireParams(servedByParams(s));
      expect(direct).toEqual(generic);
      expect(Object.keys(direct)).toEqual(Object.keys(generic));
    }
  });
});

describe('response encoding', () => {
  const logits = Float32Array.from({ length: 20 }, (_, i) => Math.fround(Math.sin(i) * 3));
  const answer: InferAnswer = {
    logits,
    servedBy: {
      subnet: 'r20_d111_w16-32-64',
      exit: 'final',
      confidence: 0.91,
      queueUs: 1234,
      computeUs: 5678,
      deadlineMet: true,
      downgraded: false,
    },
  };
  const args = { model: 'fmnist-resnet', version: '1', id: 'abc', batch: 2, classes: 10, outputs: ['logits', 'class'] as const, answer };
  const { packageDefinition } = loadProtos();
  const responseType = packageDefinition['inference.ModelInferResponse'] as unknown as {
    serialize(v: unknown): Buffer;
    deserialize(b: Buffer): WireModelInferResponse;
  };
  const roundTrip = (r: WireModelInferResponse) => responseType.deserialize(responseType.serialize(r));
  const expectedClasses = [0, 1].map((b) => {
    const row = Array.from(logits.subarray(b * 10, b * 10 + 10));
    return row.indexOf(Math.max(...row));
  });

  it('raw responses round-trip through protobuf', () => {
    const back = roundTrip(encodeGrpcResponse({ ...args, raw: true }));
    expect(back.model_name).toBe('fmnist-resnet');
    expect(back.id).toBe('abc');
    expect(back.outputs.map((o) => [o.name, o.datatype, o.shape, o.contents])).toEqual([
      ['logits', 'FP32', ['2', '10'], null],
      ['class', 'INT64', ['2'], null],
    ]);
    expect(float32FromLE(back.raw_output_contents[0]!)).toEqual(logits);
    const cls = back.raw_output_contents[1]!;
    expect([cls.readBigInt64LE(0), cls.readBigInt64LE(8)]).toEqual(expectedClasses.map(BigInt));
    expect(back.parameters).toEqual({
      'slackserve.subnet': { parameter_choice: 'string_param', string_param: 'r20_d111_w16-32-64' },
      'slackserve.exit': { parameter_choice: 'string_param', string_param: 'final' },
      'slackserve.confidence': { parameter_choice: 'double_param', double_param: 0.91 },
      'slackserve.queue_us': { parameter_choice: 'int64_param', int64_param: '1234' },
      'slackserve.compute_us': { parameter_choice: 'int64_param', int64_param: '5678' },
      'slackserve.deadline_met': { parameter_choice: 'bool_param', bool_param: true },
      'slackserve.downgraded': { parameter_choice: 'bool_param', bool_param: false },
      'slackserve.early': { parameter_choice: 'bool_param', bool_param: false },
      'slackserve.deadline_answer': { parameter_choice: 'bool_param', bool_param: false },
    });
  });

  it('typed responses round-trip through protobuf and match the raw ones', () => {
    const back = roundTrip(encodeGrpcResponse({ ...args, raw: false }));
    expect(back.raw_output_contents).toEqual([]);
    expect(Float32Array.from(back.outputs[0]!.contents!.fp32_contents!)).toEqual(logits);
    expect(back.outputs[1]!.contents!.int64_contents).toEqual(expectedClasses.map(String));
  });

  it('returns only the requested outputs, in order', () => {
    const r = encodeGrpcResponse({ ...args, outputs: ['class'], raw: true });
    expect(r.outputs.map((o) => o.name)).toEqual(['class']);
    expect(r.raw_output_contents).toHaveLength(1);
  });

  it('REST responses carry flat data and plain JSON parameters', () => {
    const r = JSON.parse(JSON.stringify(encodeRestResponse({ ...args, answer: { ...answer, classes: [4, 2] } })));
    expect(r.outputs[0]).toMatchObject({ name: 'logits', datatype: 'FP32', shape: [2, 10] });
    expect(Float32Array.from(r.outputs[0].data)).toEqual(logits);
    expect(r.outputs[1]).toEqual({ name: 'class', datatype: 'INT64', shape: [2], data: [4, 2] });
    expect(r.parameters).toMatchObject({ 'slackserve.subnet': 'r20_d111_w16-32-64', 'slackserve.queue_us': 1234, 'slackserve.deadline_met': true });
  });

  it("rejects a backend answer that does not fit the request (INTERNAL, not the client's fault)", () => {
    const bad = (a: Partial<InferAnswer>) => () => encodeGrpcResponse({ ...args, raw: true, answer: { ...answer, ...a } });
    expect(bad({ logits: new Float32Array(10) })).toThrow(expect.objectContaining({ code: 'INTERNAL' }));
    expect(bad({ classes: [1] })).toThrow(expect.objectContaining({ code: 'INTERNAL' }));
    expect(bad({ classes: [1, 10] })).toThrow(expect.objectContaining({ code: 'INTERNAL' }));
  });
});
