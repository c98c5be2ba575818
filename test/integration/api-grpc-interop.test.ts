/**
 * The gRPC edge against an in-test backend, called by a client built independently of the
 * server's loader (test/api-edge-fixture.ts), plus a byte-level check of the field numbers.
 */
import { connect as h2connect } from 'node:http2';
import * as grpc from '@grpc/grpc-js';
import protobuf from 'protobufjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GrpcInferenceServer } from '../../src/api/grpc-server.js';
import { type Client, type Edges, image, le, logitsOf, META, MODEL, param, pkg, rawReq, rejection, SAMPLE, sleep, startEdges, TestBackend, unary, until } from '../api-edge-fixture.js';

const backend = new TestBackend();
let edges: Edges;
let grpcServer: GrpcInferenceServer;
let client: Client;
let health: Client;

// every test runs twice: unary ModelInfer on the fast path (the default), and with every call
// through grpc-js (grpcFastInfer off); both must answer alike
for (const fastInfer of [true, false]) {
  describe(`gRPC (${fastInfer ? 'ModelInfer fast path' : 'all through grpc-js'})`, () => {
    beforeAll(async () => {
      edges = await startEdges(backend, { fastInfer });
      ({ grpcServer, client, health } = edges);
    });

    afterAll(async () => {
      await edges?.stop();
    });

    it(fastInfer ? 'serves unary ModelInfer on the fast path' : 'serves every call through grpc-js', async () => {
      const before = grpcServer.fastInfer?.calls ?? 0;
      const res: any = await unary(client, 'ModelInfer', rawReq('path-check'));
      expect(res.id).toBe('path-check');
      if (fastInfer) {
        expect(grpcServer.fastInfer?.attached).toBe(true);
        expect(grpcServer.fastInfer?.calls).toBe(before + 1);
      } else {
        expect(grpcServer.fastInfer).toBeUndefined();
      }
    });

    it('starts the SLO clock when the call reached the server, not when its body finished arriving', async () => {
      const framed = (msg: Buffer): Buffer => {
        const f = Buffer.alloc(5 + msg.length);
        f.writeUInt32BE(msg.length, 1);
        msg.copy(f, 5);
        return f;
      };
      const bytes = framed(pkg.inference.GRPCInferenceService.service.ModelInfer.requestSerialize(rawReq(`slow-body-${fastInfer}`, 1)) as Buffer);
      const session = h2connect(`http://127.0.0.1:${grpcServer.port}`);
      const headersAt = Date.now();
      const st = session.request({ ':method': 'POST', ':path': '/inference.GRPCInferenceService/ModelInfer', 'content-type': 'application/grpc', te: 'trailers' }, { endStream: false });
      st.resume();
      const closed = new Promise<void>((res) => st.on('close', () => res()));
      st.write(bytes.subarray(0, 10)); // part of the message now, the rest 300 ms later
      await sleep(300);
      const bodyAt = Date.now();
      st.end(bytes.subarray(10));
      await closed;
      session.close();
      const seen = backend.seen.find((r) => r.id === `slow-body-${fastInfer}`);
      expect(seen).toBeDefined();
      expect(seen!.slo.arrivalMs).toBeLessThan(bodyAt - 200);
      expect(seen!.slo.arrivalMs).toBeGreaterThanOrEqual(headersAt - 5);
      expect(seen!.slo.deadlineMs - seen!.slo.arrivalMs).toBe(250); // the default budget, from arrival
    });

    it('ServerLive, ServerReady, ModelReady, ServerMetadata, ModelMetadata', async () => {
      expect(await unary(client, 'serverLive', {})).toEqual({ live: true });
      expect(await unary(client, 'serverReady', {})).toEqual({ ready: true });
      expect(await unary(client, 'modelReady', { name: MODEL })).toEqual({ ready: true });
      expect(await unary(client, 'serverMetadata', {})).toEqual({ name: 'slackserve', version: '0.1.0', extensions: ['slackserve_slo'] });
      const m = await unary(client, 'modelMetadata', { name: MODEL });
      expect(m).toEqual({
        name: MODEL,
        versions: ['1'],
        platform: META.platform,
        inputs: [{ name: 'image', datatype: 'FP32', shape: ['-1', '1', '28', '28'] }],
        outputs: [
          { name: 'logits', datatype: 'FP32', shape: ['-1', '10'] },
          { name: 'class', datatype: 'INT64', shape: ['-1'] },
        ],
      });
    });

    it('unknown model: NOT_FOUND, on every model RPC', async () => {
      for (const [method, req] of [
        ['modelReady', { name: 'nope' }],
        ['modelMetadata', { name: 'nope' }],
        ['modelInfer', { ...rawReq('x'), modelName: 'nope' }],
      ] as const) {
        const err = await rejection(unary(client, method, req));
        expect(err.code).toBe(grpc.status.NOT_FOUND);
        expect(err.details).toBe("unknown model 'nope'");
        expect(err.metadata.get('slackserve-error-code')).toEqual(['MODEL_UNKNOWN']);
      }
    });

    it('ModelInfer with raw contents answers raw, with the SLO parameters honoured', async () => {
      const resp = await unary(client, 'modelInfer', {
        ...rawReq('r-1', 2),
        parameters: {
          'slackserve.latency_budget_ms': { doubleParam: 40 },
          'slackserve.min_accuracy': { doubleParam: 0.8 },
          'slackserve.slo_class': { stringParam: 'gold' },
          priority: { uint64Param: 1 },
          sequence_id: { int64Param: 9 },
        },
      });
      expect(resp.id).toBe('r-1');
      expect(resp.modelName).toBe(MODEL);
      expect(resp.modelVersion).toBe('1');
      expect(resp.outputs.map((o: any) => [o.name, o.datatype, o.shape])).toEqual([
        ['logits', 'FP32', ['2', '10']],
        ['class', 'INT64', ['2']],
      ]);
      const raw: Buffer[] = resp.rawOutputContents;
      const logits = new Float32Array(Uint8Array.from(raw[0]!).buffer);
      expect(logits).toEqual(logitsOf(image(2), 2));
      expect(raw[1]!.length).toBe(16);
      expect(param(resp, 'slackserve.subnet')).toBe('r28_d222_w16-32-64');
      expect(param(resp, 'slackserve.queue_us')).toBe('120');
      expect(param(resp, 'slackserve.deadline_met')).toBe(true);
      expect(param(resp, 'slackserve.early')).toBe(false);
      const seen = backend.seen.at(-1)!;
      expect(seen.slo).toMatchObject({ budgetMs: 40, minAccuracy: 0.8, sloClass: 'gold', priority: 1 });
      expect(seen.wantsRaw).toBe(true);
      expect(seen.protocol).toBe('grpc');
    });

    it('ModelInfer with typed contents answers typed, with the same numbers', async () => {
      const data = image(1);
      const resp = await unary(client, 'modelInfer', {
        modelName: MODEL,
        id: 't-1',
        inputs: [{ name: 'image', datatype: 'FP32', shape: [1, 1, 28, 28], contents: { fp32Contents: Array.from(data) } }],
        outputs: [{ name: 'class' }, { name: 'logits' }],
      });
      expect(resp.rawOutputContents).toEqual([]);
      expect(resp.outputs.map((o: any) => o.name)).toEqual(['class', 'logits']);
      expect(Float32Array.from(resp.outputs[1].contents.fp32Contents)).toEqual(logitsOf(data, 1));
      const l = Array.from(logitsOf(data, 1));
      expect(resp.outputs[0].contents.int64Contents).toEqual([String(l.indexOf(Math.max(...l)))]);
      expect(backend.seen.at(-1)!.slo.sources).toEqual(['default']);
    });

    it("Triton's timeout (us) and the gRPC deadline bound the SLO", async () => {
      await unary(client, 'modelInfer', { ...rawReq('d-1'), parameters: { timeout: { int64Param: 30_000 } } });
      expect(backend.seen.at(-1)!.slo).toMatchObject({ budgetMs: 30, sources: ['timeout'] });
      const before = Date.now();
      await unary(client, 'modelInfer', { ...rawReq('d-2'), parameters: { 'slackserve.latency_budget_ms': { doubleParam: 60_000 } } }, {
        deadline: before + 2000,
      });
      const slo = backend.seen.at(-1)!.slo;
      expect(slo.sources[0]).toBe('grpc_deadline');
      expect(slo.deadlineMs).toBeLessThanOrEqual(before + 2000 + 5);
    });

    it('bad input: INVALID_ARGUMENT with the message; the server keeps serving', async () => {
      const bad = rawReq('b-1');
      bad.inputs[0]!.shape = [2, 1, 28];
      const err = await rejection(unary(client, 'modelInfer', bad));
      expect(err.code).toBe(grpc.status.INVALID_ARGUMENT);
      expect(err.details).toBe("input 'image': shape [2,1,28] does not match [batch,1,28,28]");
      const typo = await rejection(unary(client, 'modelInfer', { ...rawReq('b-2'), parameters: { 'slackserve.budget_ms': { doubleParam: 5 } } }));
      expect(typo.code).toBe(grpc.status.INVALID_ARGUMENT);
      expect(typo.details).toContain("'slackserve.budget_ms'");
      const nan = await rejection(unary(client, 'modelInfer', { ...rawReq('b-3'), rawInputContents: [le(new Float32Array(SAMPLE).fill(NaN))] }));
      expect(nan.details).toContain('non-finite value NaN');
      const short = await rejection(unary(client, 'modelInfer', { ...rawReq('b-4'), rawInputContents: [Buffer.alloc(7)] }));
      expect(short.details).toContain('raw content has 7 bytes, expected 3136');
      expect(await unary(client, 'serverLive', {})).toEqual({ live: true });
      expect((await unary(client, 'modelInfer', rawReq('after-bad'))).id).toBe('after-bad');
    });

    it('QUEUE_FULL from the backend: UNAVAILABLE "Exceeds maximum queue size"', async () => {
      const err = await rejection(unary(client, 'modelInfer', rawReq('queue-full')));
      expect(err.code).toBe(grpc.status.UNAVAILABLE);
      expect(err.details).toBe('Exceeds maximum queue size');
      expect(err.metadata.get('slackserve-error-code')).toEqual(['QUEUE_FULL']);
    });

    it('an unexpected backend exception is INTERNAL and does not take the server down', async () => {
      const err = await rejection(unary(client, 'modelInfer', rawReq('throw-plain')));
      expect(err.code).toBe(grpc.status.INTERNAL);
      expect((await unary(client, 'serverReady', {})).ready).toBe(true);
    });

    it("client cancel: CANCELLED, and the backend's signal aborts", async () => {
      const abortedBefore = backend.aborted;
      backend.waiting = undefined;
      const result = new Promise<grpc.ServiceError | null>((resolve) => {
        const call = client.modelInfer(rawReq('wait-1'), (err: grpc.ServiceError | null) => resolve(err));
        void until(() => backend.waiting !== undefined).then(() => call.cancel());
      });
      const err = await result;
      expect(err?.code).toBe(grpc.status.CANCELLED);
      await until(() => backend.aborted === abortedBefore + 1);
      expect(backend.waiting!.cancel.cancelled).toBe(true);
      expect((await unary(client, 'modelInfer', rawReq('after-cancel'))).id).toBe('after-cancel');
    });

    it('ModelStreamInfer: early then final answers, per-request errors, out-of-order completion', async () => {
      const stream = client.modelStreamInfer();
      const messages: any[] = [];
      const ended = new Promise<void>((resolve, reject) => {
        stream.on('data', (m: any) => messages.push(m));
        stream.on('end', resolve);
        stream.on('error', reject);
      });
      const bad = rawReq('bad-in-stream');
      bad.inputs[0]!.shape = [1, 1, 28, 27];
      stream.write(rawReq('slow-1'));
      stream.write(rawReq('early-1'));
      stream.write(bad);
      stream.write({ ...rawReq('queue-full-s'), parameters: { priority: { uint64Param: 2 } } });
      stream.write(rawReq('fast-1'));
      stream.end();
      await ended;

      const ids = messages.map((m) => `${m.inferResponse.id}${m.errorMessage ? '!' : ''}`);
      expect(ids).toHaveLength(6);
      // every request answered, the slow one last (answered out of order)
      expect(ids.at(-1)).toBe('slow-1');
      expect(ids.indexOf('fast-1')).toBeLessThan(ids.indexOf('slow-1'));

      const forEarly = messages.filter((m) => m.inferResponse.id === 'early-1');
      expect(forEarly).toHaveLength(2);
      expect(param(forEarly[0].inferResponse, 'slackserve.early')).toBe(true);
      expect(param(forEarly[0].inferResponse, 'slackserve.exit')).toBe('s1b0');
      expect(param(forEarly[1].inferResponse, 'slackserve.early')).toBe(false);
      expect(param(forEarly[1].inferResponse, 'slackserve.exit')).toBe('final');
      expect(forEarly[1].inferResponse.rawOutputContents).toHaveLength(2);
      // Triton's marker: false on the early answer, true on the last
      expect([param(forEarly[0].inferResponse, 'triton_final_response'), param(forEarly[1].inferResponse, 'triton_final_response')]).toEqual([false, true]);

      const badMsg = messages.find((m) => m.inferResponse.id === 'bad-in-stream');
      // the id ends the message: Triton's clients hand their callback only error_message
      expect(badMsg.errorMessage).toBe("input 'image': shape [1,1,28,27] does not match [batch,1,28,28] [request id: bad-in-stream]");
      expect(param(badMsg.inferResponse, 'triton_final_response')).toBe(true);
      expect(param(badMsg.inferResponse, 'slackserve.error_code')).toBe('INPUT_INVALID');
      expect(param(badMsg.inferResponse, 'slackserve.grpc_code')).toBe(String(grpc.status.INVALID_ARGUMENT));
      const fullMsg = messages.find((m) => m.inferResponse.id === 'queue-full-s');
      expect(fullMsg.errorMessage).toBe('Exceeds maximum queue size [request id: queue-full-s]');
      expect(backend.seen.find((r) => r.id === 'early-1')!.protocol).toBe('grpc-stream');
    });

    it('ModelStreamInfer: cancelling the stream aborts its pending requests', async () => {
      const abortedBefore = backend.aborted;
      backend.waiting = undefined;
      const stream = client.modelStreamInfer();
      const done = new Promise<grpc.ServiceError>((resolve) => stream.on('error', resolve));
      stream.write(rawReq('wait-stream'));
      await until(() => backend.waiting !== undefined);
      stream.cancel();
      expect((await done).code).toBe(grpc.status.CANCELLED);
      await until(() => backend.aborted === abortedBefore + 1);
    });

    it('Health Check: SERVING when ready, NOT_SERVING otherwise, NOT_FOUND for other services; Watch streams changes', async () => {
      const SERVING = 1;
      const NOT_SERVING = 2;
      expect(await unary(health, 'check', { service: '' })).toEqual({ status: SERVING });
      expect(await unary(health, 'check', { service: 'inference.GRPCInferenceService' })).toEqual({ status: SERVING });
      expect((await rejection(unary(health, 'check', { service: 'other.Service' }))).code).toBe(grpc.status.NOT_FOUND);

      const watch = health.watch({ service: '' });
      const seen: number[] = [];
      watch.on('data', (m: any) => seen.push(m.status));
      watch.on('error', () => undefined);
      await until(() => seen.length === 1);
      backend.ready_ = false;
      try {
        expect(await unary(health, 'check', {})).toEqual({ status: NOT_SERVING });
        expect(await unary(client, 'serverReady', {})).toEqual({ ready: false });
        await until(() => seen.length === 2);
        expect(seen).toEqual([SERVING, NOT_SERVING]);
      } finally {
        backend.ready_ = true;
        watch.cancel();
      }
    });
  });
}

describe('wire format', () => {
  const root = protobuf.loadSync('proto/grpc_service.proto');
  const healthRoot = protobuf.loadSync('proto/health.proto');

  it('ModelInferRequest: model_name = 1, id = 3, raw_input_contents = 7 (tag bytes 0x0a, 0x1a, 0x3a)', () => {
    const T = root.lookupType('inference.ModelInferRequest');
    const bytes = Buffer.from(T.encode(T.fromObject({ modelName: 'm', id: 'x', rawInputContents: [Buffer.from([1, 2, 3, 4])] })).finish());
    expect(bytes.toString('hex')).toBe(['0a', '01', '6d', '1a', '01', '78', '3a', '04', '01020304'].join(''));
    // and the server's own loader reads hand-made bytes the same way
    const handMade = Buffer.from([0x0a, 0x01, 0x6d, 0x12, 0x01, 0x32, 0x1a, 0x01, 0x78, 0x3a, 0x02, 0xaa, 0xbb]);
    const decoded = T.toObject(T.decode(handMade), { bytes: Array }) as any;
    expect(decoded).toEqual({ modelName: 'm', modelVersion: '2', id: 'x', rawInputContents: [[0xaa, 0xbb]] });
  });

  it('every field number of the contract', () => {
    const expected: Record<string, Record<string, number>> = {
      ServerLiveResponse: { live: 1 },
      ServerReadyResponse: { ready: 1 },
      ModelReadyRequest: { name: 1, version: 2 },
      ModelReadyResponse: { ready: 1 },
      ServerMetadataResponse: { name: 1, version: 2, extensions: 3 },
      ModelMetadataRequest: { name: 1, version: 2 },
      ModelMetadataResponse: { name: 1, versions: 2, platform: 3, inputs: 4, outputs: 5 },
      'ModelMetadataResponse.TensorMetadata': { name: 1, datatype: 2, shape: 3 },
      ModelInferRequest: { modelName: 1, modelVersion: 2, id: 3, parameters: 4, inputs: 5, outputs: 6, rawInputContents: 7 },
      'ModelInferRequest.InferInputTensor': { name: 1, datatype: 2, shape: 3, parameters: 4, contents: 5 },
      'ModelInferRequest.InferRequestedOutputTensor': { name: 1, parameters: 2 },
      ModelInferResponse: { modelName: 1, modelVersion: 2, id: 3, parameters: 4, outputs: 5, rawOutputContents: 6 },
      'ModelInferResponse.InferOutputTensor': { name: 1, datatype: 2, shape: 3, parameters: 4, contents: 5 },
      InferParameter: { boolParam: 1, int64Param: 2, stringParam: 3, doubleParam: 4, uint64Param: 5 },
      InferTensorContents: {
        boolContents: 1,
        intContents: 2,
        int64Contents: 3,
        uintContents: 4,
        uint64Contents: 5,
        fp32Contents: 6,
        fp64Contents: 7,
        bytesContents: 8,
      },
      ModelStreamInferResponse: { errorMessage: 1, inferResponse: 2 },
    };
    for (const [name, fields] of Object.entries(expected)) {
      const T = root.lookupType(`inference.${name}`);
      const actual = Object.fromEntries(Object.values(T.fields).map((f) => [f.name, f.id]));
      expect(actual, name).toEqual(fields);
    }
    const shapeField = root.lookupType('inference.ModelInferRequest.InferInputTensor').fields['shape']!;
    expect([shapeField.type, shapeField.repeated]).toEqual(['int64', true]);
    expect(root.lookupType('inference.InferParameter').oneofs['parameterChoice']!.oneof).toHaveLength(5);

    const svc = root.lookupService('inference.GRPCInferenceService');
    expect(Object.keys(svc.methods).sort()).toEqual(
      [
        'ModelInfer',
        'ModelMetadata',
        'ModelReady',
        'ModelStreamInfer',
        'ServerLive',
        'ServerMetadata',
        'ServerReady',
        'ModelConfig',
        'ModelStatistics',
        'RepositoryIndex',
        'RepositoryModelLoad',
        'RepositoryModelUnload',
      ].sort(),
    );
    const stream = svc.methods['ModelStreamInfer']!;
    expect([stream.requestStream, stream.responseStream, stream.requestType, stream.responseType]).toEqual([
      true,
      true,
      'ModelInferRequest',
      'ModelStreamInferResponse',
    ]);

    const status = healthRoot.lookupEnum('grpc.health.v1.HealthCheckResponse.ServingStatus');
    expect(status.values).toEqual({ UNKNOWN: 0, SERVING: 1, NOT_SERVING: 2, SERVICE_UNKNOWN: 3 });
    expect(healthRoot.lookupType('grpc.health.v1.HealthCheckRequest').fields['service']!.id).toBe(1);
    expect(healthRoot.lookupType('grpc.health.v1.HealthCheckResponse').fields['status']!.id).toBe(1);
    const hs = healthRoot.lookupService('grpc.health.v1.Health');
    expect(hs.methods['Watch']!.responseStream).toBe(true);
    expect(hs.methods['Check']!.responseStream).toBeFalsy();
  });
});
