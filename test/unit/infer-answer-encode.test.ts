/**
 * The fast path's answer encoder (src/api/infer-answer-encode.ts) against protobufjs, the oracle:
 * for random answers (batch sizes, class counts, logits with NaN and infinities, every optional
 * served-by field present or not, int64 values across the range, Unicode names, raw and typed,
 * either output order), its framed bytes must be the 5-byte gRPC prefix plus exactly what
 * proto-loader's serializer writes for the general path's response object (encodeGrpcResponse),
 * and protobufjs must decode them to the same object.
 */
import { describe, expect, it } from 'vitest';
import { encodeAnswerFramed } from '../../src/api/infer-answer-encode.js';
import { encodeGrpcResponse, type EncodeArgs } from '../../src/api/tensors.js';
import type { OutputName, ServedBy } from '../../src/api/types.js';
import { Gen, oracle } from '../wire-gen.js';

type Args = EncodeArgs & { readonly raw: boolean };

function framed(body: Buffer): Buffer {
  const prefix = Buffer.alloc(5);
  prefix.writeUInt32BE(body.length, 1);
  return Buffer.concat([prefix, body]);
}

function randomArgs(g: Gen): Args {
  const batch = g.pick([0, 1, 1, 2, 16, 64, g.int(1, 300)]);
  const classes = g.pick([10, 10, 1, g.int(2, 200)]);
  const logits = new Float32Array(batch * classes);
  for (let i = 0; i < logits.length; i++) logits[i] = g.chance(0.02) ? g.pick([NaN, Infinity, -Infinity, -0]) : (g.r() - 0.5) * 20;
  const us = (): number => (g.chance(0.1) ? g.pick([-1.5, -(2 ** 40), 2 ** 53, 0.5, 1e12]) : g.r() * 200_000);
  const servedBy: ServedBy = {
    subnet: g.chance(0.8) ? `r${g.int(12, 28)}_d${g.int(100, 400)}_w8-16-32` : g.str(20),
    exit: g.chance(0.7) ? 'final' : g.str(8),
    confidence: g.chance(0.9) ? g.r() : g.double(),
    queueUs: us(),
    computeUs: us(),
    ...(g.chance(0.7) ? { serverUs: us() } : {}),
    ...(g.chance(0.4) ? { outputUs: us() } : {}),
    ...(g.chance(0.3) ? { inputUs: us() } : {}),
    deadlineMet: g.chance(0.8),
    downgraded: g.chance(0.2),
    ...(g.chance(0.3) ? { early: g.chance(0.5) } : {}),
    ...(g.chance(0.3) ? { deadlineAnswer: g.chance(0.5) } : {}),
  };
  const outputs: OutputName[] = g.pick([['logits', 'class'], ['class', 'logits'], ['logits'], ['class'], []] as OutputName[][]);
  // class ids: argmax when the backend gave none (the usual answer), else the backend's own
  const answer = g.chance(0.5) ? { logits, servedBy } : { logits, servedBy, classes: Int32Array.from({ length: batch }, () => g.int(0, classes - 1)) };
  return { model: g.chance(0.8) ? 'fmnist-resnet' : g.str(30), version: g.pick(['1', '', g.str(5)]), id: g.pick(['', 'abc', g.str(40)]), batch, classes, outputs, answer, raw: g.chance(0.6) };
}

describe('encodeAnswerFramed', () => {
  it('writes the bytes protobufjs writes for the general path, framed (random answers)', () => {
    const g = new Gen(4242);
    for (let i = 0; i < 800; i++) {
      const args = randomArgs(g);
      const theirs = oracle.encodeResponse(encodeGrpcResponse(args));
      const mine = encodeAnswerFramed(args);
      expect(mine.readUInt32BE(1), `answer ${i} length prefix`).toBe(mine.length - 5);
      expect(mine[0]).toBe(0);
      expect(oracle.decodeResponse(mine.subarray(5)), `answer ${i}`).toStrictEqual(oracle.decodeResponse(theirs));
      expect(mine.equals(framed(theirs)), `answer ${i} bytes`).toBe(true);
    }
  });

  it('answers classification requests through the general path, with the same bytes', () => {
    const g = new Gen(7);
    const args = randomArgs(g);
    const withClasses: Args = { ...args, batch: 2, classes: 10, answer: { ...args.answer, logits: new Float32Array(20).map((_, i) => Math.cos(i)) }, outputs: ['logits', 'class'], options: { classCounts: new Map([['class', 3]]), binary: new Set() } };
    expect(encodeAnswerFramed(withClasses).equals(framed(oracle.encodeResponse(encodeGrpcResponse(withClasses))))).toBe(true);
  });

  it('refuses an answer that does not match the request, as the general path does', () => {
    const g = new Gen(8);
    const args = { ...randomArgs(g), batch: 3, classes: 10 };
    const bad: Args = { ...args, answer: { ...args.answer, logits: new Float32Array(29) } };
    expect(() => encodeAnswerFramed(bad)).toThrow(/logits for a batch of 3 x 10/);
    const badClass: Args = { ...args, answer: { ...args.answer, logits: new Float32Array(30), classes: [0, 1, 10] } };
    expect(() => encodeAnswerFramed(badClass)).toThrow(/class 10 of 10/);
  });
});
