/**
 * The hand-written inference wire encoders (src/api/infer-wire-encode.ts) against protobufjs, the
 * oracle: proto-loader's own serializers. Random responses and stream responses, the server's real
 * responses, int64 coercion: byte-identical to protobufjs's serialize and decoded by protobufjs to
 * the same object. The decoder's tests are in infer-wire.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { encodeModelInferResponse, encodeModelStreamInferResponse } from '../../src/api/infer-wire.js';
import { encodeGrpcResponse } from '../../src/api/tensors.js';
import { Gen, oracle } from '../wire-gen.js';

describe('encoders agree with protobufjs', () => {
  it('encodeModelInferResponse: byte-identical to proto-loader serialize and decoded to the same object (random responses)', () => {
    const g = new Gen(99);
    for (let i = 0; i < 600; i++) {
      const r = g.response();
      const mine = encodeModelInferResponse(r as never);
      const theirs = oracle.encodeResponse(r);
      expect(oracle.decodeResponse(mine), `response ${i}`).toStrictEqual(oracle.decodeResponse(theirs));
      expect(mine.equals(theirs), `response ${i} bytes`).toBe(true);
    }
  });

  it('encodeModelStreamInferResponse: the same for stream responses (errors and responses)', () => {
    const g = new Gen(100);
    for (let i = 0; i < 300; i++) {
      const s = g.chance(0.3)
        ? { error_message: g.str(40), infer_response: null }
        : g.chance(0.5)
          ? { error_message: '', infer_response: g.response() }
          : { infer_response: g.response() };
      const mine = encodeModelStreamInferResponse(s as never);
      const theirs = oracle.encodeStream(s);
      expect(oracle.decodeStream(mine), `stream response ${i}`).toStrictEqual(oracle.decodeStream(theirs));
      expect(mine.equals(theirs)).toBe(true);
    }
    expect(encodeModelStreamInferResponse({} as never)).toHaveLength(0);
  });

  it("encodes the server's real responses (encodeGrpcResponse, raw and typed)", () => {
    const logits = new Float32Array(30).map((_, i) => Math.sin(i));
    for (const raw of [true, false]) {
      const r = encodeGrpcResponse({
        model: 'fmnist-resnet',
        version: '1',
        id: 'abc',
        batch: 3,
        classes: 10,
        outputs: ['logits', 'class'],
        raw,
        answer: {
          logits,
          servedBy: { subnet: 'r28_d222', exit: 'final', confidence: 0.9, queueUs: 120.4, computeUs: 800, deadlineMet: true, downgraded: false },
        },
      });
      const mine = encodeModelInferResponse(r);
      expect(mine.equals(oracle.encodeResponse(r))).toBe(true);
      expect(oracle.decodeResponse(mine)).toStrictEqual(oracle.decodeResponse(oracle.encodeResponse(r)));
    }
  });

  it('coerces int64 values as Long.fromValue does and rejects non-decimal strings', () => {
    const out = (v: unknown) => ({ name: 'o', datatype: 'INT64', shape: [v], parameters: {}, contents: { uint64_contents: [v] } });
    for (const v of [0, -1, 2.9, -2.9, 2 ** 53 + 2, -(2 ** 63), 2 ** 63, 2 ** 64, -Infinity, Infinity, NaN, '007', '+5', '-0', '18446744073709551617', 5n]) {
      const r = { model_name: '', model_version: '', id: '', parameters: { p: { int64_param: v, uint64_param: v } }, outputs: [out(v)], raw_output_contents: [] };
      expect(encodeModelInferResponse(r as never).equals(oracle.encodeResponse(r)), `value ${String(v)}`).toBe(true);
    }
    expect(() => encodeModelInferResponse({ parameters: { p: { int64_param: '1e3' } } } as never)).toThrow(TypeError);
    expect(() => encodeModelInferResponse({ parameters: { p: null } } as never)).toThrow(TypeError);
  });
});
