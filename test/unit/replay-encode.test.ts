/**
 * The replay's fast wire path against protobufjs as the oracle: pre-encoded requests decode to
 * exactly what the object path sent, and the lazy response reader agrees with a full decode.
 */
import protobuf from 'protobufjs';
import { describe, expect, it } from 'vitest';
import { PROTO_DIR } from '../../src/api/proto.js';
import { OipClient, type ParamValue } from '../../src/client/oip-client.js';
import { readInferResponse } from '../../src/client/wire.js';
import { preEncode, RequestBytes } from '../../src/replay/encoded.js';
import { schedule } from '../../src/replay/replayer.js';
import type { ReplayRequest } from '../../src/replay/types.js';

const root = new protobuf.Root().loadSync(`${PROTO_DIR}grpc_service.proto`, { keepCase: true });
const RequestType = root.lookupType('inference.ModelInferRequest');
const ResponseType = root.lookupType('inference.ModelInferResponse');
const asObject = (t: protobuf.Type, bytes: Uint8Array): any => t.toObject(t.decode(bytes), { longs: String, enums: String, bytes: Buffer, oneofs: true });

const SAMPLE = [1, 4, 4];
const N_IMAGES = 12;
const images = Float32Array.from({ length: N_IMAGES * 16 }, (_, i) => Math.sin(i) * 3);

/** The request the replay sent before pre-encoding (replay-thread.ts, object path), field by field. */
function oldPathCall(r: ReplayRequest, per: number): Parameters<typeof OipClient.request>[0] {
  const params: Record<string, ParamValue> = { 'slackserve.latency_budget_ms': r.slo_ms, 'slackserve.slo_class': r.class };
  if (r.min_accuracy !== null) params['slackserve.min_accuracy'] = r.min_accuracy;
  if (r.priority !== 0) params.priority = r.priority;
  return { model: 'fmnist-resnet', inputName: 'image', images: images.subarray(r.image * 16, (r.image + per) * 16), shape: [per, ...SAMPLE], params, id: String(r.i) };
}

describe('pre-encoded replay requests', () => {
  const trace = Array.from({ length: 40 }, (_, i) => ({
    t_ms: i * 3,
    slo_ms: [50, 120.5][i % 2] as number,
    min_accuracy: i % 3 === 0 ? 0.9 : undefined,
    priority: i % 5 === 0 ? 2 : 0,
    class: ['default', 'gold'][i % 2] as string,
  }));

  for (const per of [1, 3]) {
    it(`decode to the request the object path sends (${per} image${per > 1 ? 's' : ''} per request)`, () => {
      const reqs = schedule({ trace }, N_IMAGES, per);
      const { pieces, combo } = preEncode({ model: 'fmnist-resnet', inputName: 'image', images, sampleShape: SAMPLE, imagesPerRequest: per, requests: reqs });
      // few distinct pieces: 2 SLOs x (min accuracy or not) x (priority or not), one body per start image
      expect(pieces.params.length).toBeLessThanOrEqual(8);
      expect(pieces.bodies.filter((b) => b !== null)).toHaveLength(N_IMAGES - per + 1);
      const bytes = new RequestBytes(pieces);
      for (const r of reqs) {
        const sent = bytes.get(combo[r.i] as number, r.image, String(r.i));
        const got = asObject(RequestType, sent);
        // the oracle: protobufjs's decoding of the old path's bytes, and the fields spelled out
        const old = OipClient.encodeRequest(oldPathCall(r, per));
        expect(got).toEqual(asObject(RequestType, old));
        expect(Buffer.compare(sent, old)).toBe(0);
        expect(got.model_name).toBe('fmnist-resnet');
        expect(got.id).toBe(String(r.i));
        expect(got.inputs).toEqual([{ name: 'image', datatype: 'FP32', shape: [String(per), '1', '4', '4'] }]);
        expect(got.raw_input_contents).toHaveLength(1);
        expect(new Float32Array(new Uint8Array(got.raw_input_contents[0]).buffer)).toEqual(images.slice(r.image * 16, (r.image + per) * 16));
        const params: Record<string, unknown> = {
          'slackserve.latency_budget_ms': { double_param: r.slo_ms, parameter_choice: 'double_param' },
          'slackserve.slo_class': { string_param: r.class, parameter_choice: 'string_param' },
        };
        if (r.min_accuracy !== null) params['slackserve.min_accuracy'] = { double_param: r.min_accuracy, parameter_choice: 'double_param' };
        if (r.priority !== 0) params['priority'] = { int64_param: String(r.priority), parameter_choice: 'int64_param' };
        expect(got.parameters).toEqual(params);
      }
    });
  }
});

describe('lazy ModelInferResponse reading', () => {
  const logits = new Float32Array(20).map((_, i) => i / 7);
  const classes = Buffer.alloc(16);
  classes.writeBigInt64LE(3n, 0);
  classes.writeBigInt64LE(7n, 8);
  const params = {
    'slackserve.subnet': { string_param: 'r18_d050' },
    'slackserve.confidence': { double_param: 0.8125 },
    'slackserve.downgraded': { bool_param: true },
    'slackserve.deadline_met': { bool_param: false },
    'slackserve.queue_us': { int64_param: 1234 },
    negative: { int64_param: -5 },
    minusBig: { int64_param: -(2 ** 40) - 3 },
    big: { uint64_param: 2 ** 40 },
  };
  const encode = (o: Record<string, unknown>): Buffer => Buffer.from(ResponseType.encode(ResponseType.fromObject(o)).finish());

  it('reads the id, every parameter and the raw class output as a full protobufjs decode does', () => {
    const bytes = encode({
      model_name: 'm',
      model_version: '1',
      id: 'req-42',
      parameters: params,
      outputs: [
        { name: 'logits', datatype: 'FP32', shape: [2, 10] },
        { name: 'class', datatype: 'INT64', shape: [2] },
      ],
      raw_output_contents: [Buffer.from(logits.buffer), classes],
    });
    const lazy = readInferResponse(bytes);
    const full = OipClient.decodeResponseBytes(bytes);
    expect(lazy.id).toBe('req-42');
    expect(lazy.classes).toEqual([3, 7]);
    expect(lazy.outputs).toEqual(['logits', 'class']);
    expect(lazy.params).toEqual({ 'slackserve.subnet': 'r18_d050', 'slackserve.confidence': 0.8125, 'slackserve.downgraded': true, 'slackserve.deadline_met': false, 'slackserve.queue_us': 1234, negative: -5, minusBig: -(2 ** 40) - 3, big: 2 ** 40 });
    expect(lazy.id).toBe(full.id);
    expect(lazy.classes).toEqual(full.classes);
    expect(lazy.params).toEqual(full.params);
  });

  it('reads typed int64 class contents, says when there is no class output, and rejects malformed bytes', () => {
    const typed = encode({ id: 'x', outputs: [{ name: 'class', datatype: 'INT64', shape: [1], contents: { int64_contents: [4] } }] });
    expect(readInferResponse(typed).classes).toEqual([4]);
    expect(readInferResponse(encode({ id: 'y', outputs: [{ name: 'logits', datatype: 'FP32', shape: [1, 10] }], raw_output_contents: [Buffer.alloc(40)] })).classes).toBeNull();
    expect(() => readInferResponse(Buffer.from([0x1a, 0x05, 0x61]))).toThrow(/truncated/);
  });
});
