/**
 * The wire codec inside grpc-js: a tiny server whose ModelInfer / ModelStreamInfer use the
 * overridden method definitions (grpcInferenceMethodOverrides), called by a standard client
 * generated from the same proto through proto-loader, and by raw-bytes clients (identity
 * serializers) for what a standard client cannot send: garbage and oversized messages. Checks
 * that a decode failure reaches the handler as an object, so it answers INVALID_ARGUMENT or
 * RESOURCE_EXHAUSTED itself, where grpc-js alone answers INTERNAL.
 */
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DEFAULT_WIRE_LIMITS,
  grpcInferenceMethodOverrides,
  isWireDecodeFailure,
  type WireInferRequestOrFailure,
  wireFailureStatus,
} from '../../src/api/infer-wire.js';
import { loadProtos, type WireModelInferRequest, type WireModelInferResponse, type WireModelStreamInferResponse } from '../../src/api/proto.js';

const protos = loadProtos();
const INFER = '/inference.GRPCInferenceService/ModelInfer';
const STREAM = '/inference.GRPCInferenceService/ModelStreamInfer';
const identity = (b: Buffer): Buffer => b;
const decodeStreamResponse = protos.inference.ModelStreamInfer!.responseDeserialize as (b: Buffer) => WireModelStreamInferResponse;
const encodeRequest = protos.inference.ModelInfer!.requestSerialize as (r: unknown) => Buffer;

/** The echo: what the handler decoded, in a response protobufjs must read back. */
function echo(req: WireModelInferRequest): WireModelInferResponse {
  const raw = req.raw_input_contents ?? [];
  return {
    model_name: req.model_name ?? '',
    model_version: req.model_version ?? '',
    id: req.id ?? '',
    parameters: {
      raw_bytes: { int64_param: raw.reduce((n, b) => n + b.byteLength, 0) },
      // zero copy: each raw entry is a view of the (larger) received message buffer
      raw_views: { bool_param: raw.every((b) => b.buffer.byteLength > b.byteLength) },
      names: { string_param: Object.keys(req.parameters ?? {}).join(',') },
      shape: { string_param: (req.inputs?.[0]?.shape ?? []).join('x') },
    },
    outputs: [{ name: 'echo', datatype: 'UINT8', shape: [raw[0]?.byteLength ?? 0], parameters: {}, contents: null }],
    raw_output_contents: raw.slice(0, 1).map((b) => Buffer.from(b)),
  };
}

const failureText = (f: { code: string; message: string }) => `${f.code}: ${f.message}`;

let server: grpc.Server;
let plainServer: grpc.Server;
let target: string;
let plainTarget: string;
let client: grpc.Client & Record<string, any>;
let raw: grpc.Client;
let plainRaw: grpc.Client;
const handlerSaw: string[] = [];

async function bind(s: grpc.Server): Promise<string> {
  const port = await new Promise<number>((res, rej) =>
    s.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? rej(err) : res(p))),
  );
  return `127.0.0.1:${port}`;
}

beforeAll(async () => {
  server = new grpc.Server({ 'grpc.max_receive_message_length': 16 * 1024 * 1024 });
  server.addService(grpcInferenceMethodOverrides(protos.inference, { ...DEFAULT_WIRE_LIMITS, maxRequestParameters: 4 }), {
    ModelInfer: (call: grpc.ServerUnaryCall<WireInferRequestOrFailure, WireModelInferResponse>, cb: grpc.sendUnaryData<WireModelInferResponse>) => {
      const req = call.request;
      if (isWireDecodeFailure(req)) {
        handlerSaw.push(req.code);
        cb(wireFailureStatus(req), null);
        return;
      }
      cb(null, echo(req));
    },
    ModelStreamInfer: (call: grpc.ServerDuplexStream<WireInferRequestOrFailure, WireModelStreamInferResponse>) => {
      call.on('data', (req: WireInferRequestOrFailure) => {
        // a failure concerns this message only: answer it on the stream and keep the stream open
        if (isWireDecodeFailure(req)) call.write({ error_message: failureText(req), infer_response: null });
        else call.write({ error_message: '', infer_response: echo(req) });
      });
      call.on('end', () => call.end());
    },
  });
  target = await bind(server);

  // the standard definitions, for comparison: a throwing deserializer
  plainServer = new grpc.Server();
  plainServer.addService(protos.inference, {
    ModelInfer: (_call: grpc.ServerUnaryCall<unknown, unknown>, cb: grpc.sendUnaryData<unknown>) => cb(null, {}),
  });
  plainTarget = await bind(plainServer);

  const pkg = grpc.loadPackageDefinition(protos.packageDefinition) as any;
  client = new pkg.inference.GRPCInferenceService(target, grpc.credentials.createInsecure());
  raw = new grpc.Client(target, grpc.credentials.createInsecure());
  plainRaw = new grpc.Client(plainTarget, grpc.credentials.createInsecure());
});

afterAll(() => {
  for (const c of [client, raw, plainRaw]) c?.close();
  server?.forceShutdown();
  plainServer?.forceShutdown();
});

function rawUnary(c: grpc.Client, bytes: Buffer): Promise<{ err: grpc.ServiceError | null; res?: Buffer }> {
  return new Promise((res) => {
    c.makeUnaryRequest(INFER, identity, identity, bytes, (err, out) => res({ err, ...(out ? { res: out } : {}) }));
  });
}

describe('ModelInfer with the wire codec in grpc-js', () => {
  it('a standard client round-trips a good request', async () => {
    const image = Buffer.alloc(3136, 3);
    const req = {
      model_name: 'fmnist-resnet',
      id: 'r1',
      parameters: { 'slackserve.latency_budget_ms': { double_param: 20 }, 'slackserve.sheddable': { bool_param: true } },
      inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 1, 28, 28] }],
      raw_input_contents: [image],
    };
    const res = await new Promise<any>((resolve, reject) => client.ModelInfer(req, (err: Error | null, r: unknown) => (err ? reject(err) : resolve(r))));
    expect(res.model_name).toBe('fmnist-resnet');
    expect(res.id).toBe('r1');
    expect(res.parameters.raw_bytes).toEqual({ int64_param: '3136', parameter_choice: 'int64_param' });
    expect(res.parameters.raw_views).toEqual({ bool_param: true, parameter_choice: 'bool_param' });
    expect(res.parameters.names.string_param).toBe('slackserve.latency_budget_ms,slackserve.sheddable');
    expect(res.parameters.shape.string_param).toBe('1x1x28x28');
    expect(res.outputs).toEqual([{ name: 'echo', datatype: 'UINT8', shape: ['3136'], parameters: {}, contents: null }]);
    expect(Buffer.compare(res.raw_output_contents[0], image)).toBe(0);
  });

  it('garbage bytes reach the handler as a failure object; the client gets INVALID_ARGUMENT', async () => {
    const before = handlerSaw.length;
    const { err } = await rawUnary(raw, Buffer.from([0x0a, 0x05, 0x61, 0xff, 0xff]));
    expect(err?.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(err?.details).toMatch(/model_name: length at byte 1 runs past the end/);
    expect(handlerSaw.slice(before)).toEqual(['INPUT_INVALID']);
  });

  it('without the overrides, grpc-js answers undecodable bytes with INTERNAL (why the decoder returns, not throws)', async () => {
    const { err } = await rawUnary(plainRaw, Buffer.from([0xff, 0xff, 0xff]));
    expect(err?.code).toBe(grpc.status.INTERNAL);
    expect(err?.details).toMatch(/deserializ/i);
    const ours = await rawUnary(raw, Buffer.from([0xff, 0xff, 0xff]));
    expect(ours.err?.code).toBe(grpc.status.INVALID_ARGUMENT);
    // and protobufjs accepts a string that runs past the end (it truncates it); the codec does not
    expect((await rawUnary(plainRaw, Buffer.from([0x0a, 0x05, 0x61, 0xff, 0xff]))).err).toBeNull();
  });

  it('a request past a limit gets RESOURCE_EXHAUSTED, from a standard client and as 600k raw parameters', async () => {
    const params = Object.fromEntries(['a', 'b', 'c', 'd', 'e'].map((k) => [k, { bool_param: true }]));
    const err = await new Promise<grpc.ServiceError>((resolve) => client.ModelInfer({ parameters: params }, (e: grpc.ServiceError) => resolve(e)));
    expect(err.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(err.details).toBe('too many request parameters (limit maxRequestParameters = 4)');

    const entry = encodeRequest({ parameters: { a: { bool_param: true } } });
    const big = Buffer.concat(Array.from({ length: 600_000 }, () => entry));
    const { err: err2 } = await rawUnary(raw, big);
    expect(err2?.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(err2?.details).toMatch(/maxRequestParameters = 4/);
  });

  it('ModelStreamInfer: a bad message gets an error_message on the stream, which stays open', async () => {
    const call = raw.makeBidiStreamRequest(STREAM, identity, decodeStreamResponse);
    const got: WireModelStreamInferResponse[] = [];
    const done = new Promise<void>((resolve, reject) => {
      call.on('data', (m: WireModelStreamInferResponse) => got.push(m));
      call.on('error', reject);
      call.on('end', () => resolve());
    });
    call.write(encodeRequest({ id: 'first', raw_input_contents: [Buffer.alloc(8)] }));
    call.write(Buffer.from([0xff, 0xff, 0xff]));
    call.write(encodeRequest({ id: 'third' }));
    call.end();
    await done;
    expect(got).toHaveLength(3);
    expect(got[0]!.error_message).toBe('');
    expect(got[0]!.infer_response?.id).toBe('first');
    expect(got[0]!.infer_response?.parameters['raw_bytes']).toEqual({ int64_param: '8', parameter_choice: 'int64_param' });
    expect(got[1]!.error_message).toMatch(/^INPUT_INVALID: /);
    expect(got[1]!.infer_response).toBeNull();
    expect(got[2]!.infer_response?.id).toBe('third');
  });
});
