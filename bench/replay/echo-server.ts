/**
 * A gRPC OIP server that answers at once (no model): what the replay client is measured against.
 *
 *   node dist-bench/bench/replay/echo-server.js [port] [full|lean|h2]
 *
 * - `full`: slackserve's own GrpcInferenceServer with a trivial backend (the real server stack:
 *   protobufjs decode, request checks, response encode). It costs about as much CPU per call as
 *   the client, and on 2 cores it saturates its one event loop near 2,000 req/s.
 * - `lean` (default): a bare grpc-js server with identity (de)serializers answering every
 *   ModelInfer with one pre-encoded ModelInferResponse (made by the same encoder as `full`:
 *   `slackserve.*` parameters, logits and class as raw outputs), with the request's id put in.
 * - `h2`: the same answer from a bare node:http2 server speaking gRPC's unary framing (no grpc-js
 *   at all): the cheapest server, leaving the client most of a machine they share.
 * `lean` and `h2` answer batch-1 requests only (one class).
 */
import * as http2 from 'node:http2';
import * as grpc from '@grpc/grpc-js';
import { GrpcInferenceServer } from '../../src/api/grpc-server.js';
import { loadProtos } from '../../src/api/proto.js';
import { encodeGrpcResponse, modelMetadataFromManifest } from '../../src/api/tensors.js';
import type { InferenceBackend, ServedBy } from '../../src/api/types.js';
import { assembleWithId, readStringField } from '../../src/client/wire.js';
import { Catalogue } from '../../src/supernet/catalogue.js';

const port = Number(process.argv[2] ?? 18701);
const mode = process.argv[3] ?? 'lean';
const cat = Catalogue.load('supernets/fmnist-resnet');
const servedBy: ServedBy = { subnet: 'echo', exit: 'final', confidence: 1, queueUs: 0, computeUs: 0, deadlineMet: true, downgraded: false };

/** The pre-encoded answer around its id: fields 1-2, then 4-6 (wire.ts assembleWithId). */
function cannedAnswer(): { head: Buffer; tail: Buffer } {
  const method = (loadProtos().inference as unknown as Record<string, { responseSerialize(v: unknown): Buffer }>)['ModelInfer'];
  if (!method) throw new Error('no ModelInfer in the loaded protos');
  const a = encodeGrpcResponse({ model: cat.manifest.name, version: '1', id: '', batch: 1, classes: 10, outputs: ['logits', 'class'], answer: { logits: new Float32Array(10), servedBy }, raw: true });
  return {
    head: method.responseSerialize({ model_name: a.model_name, model_version: a.model_version }),
    tail: method.responseSerialize({ parameters: a.parameters, outputs: a.outputs, raw_output_contents: a.raw_output_contents }),
  };
}

async function full(): Promise<() => Promise<void>> {
  const meta = modelMetadataFromManifest(cat.manifest, { maxBatch: 64 });
  const backend: InferenceBackend = {
    live: () => true,
    ready: async () => true,
    modelReady: async () => true,
    serverMetadata: () => ({ name: 'echo', version: '0', extensions: [] }),
    modelMetadata: () => meta,
    infer: async (req) => ({ logits: new Float32Array(10 * req.tensor.batch), servedBy }),
  };
  const server = new GrpcInferenceServer(backend, { host: '127.0.0.1', port, defaultBudgetMs: 100 });
  await server.start();
  return () => server.stop(100);
}

async function lean(): Promise<() => Promise<void>> {
  const { head, tail } = cannedAnswer();
  const id = (b: Buffer): Buffer => b;
  const server = new grpc.Server({ 'grpc.max_receive_message_length': 16 * 1024 * 1024 });
  server.addService(
    { ModelInfer: { path: '/inference.GRPCInferenceService/ModelInfer', requestStream: false, responseStream: false, requestSerialize: id, requestDeserialize: id, responseSerialize: id, responseDeserialize: id } },
    { ModelInfer: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => cb(null, assembleWithId(head, readStringField(call.request, 3), [tail])) },
  );
  await new Promise<void>((res, rej) => server.bindAsync(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure(), (e) => (e ? rej(e) : res())));
  return () => new Promise<void>((res) => server.tryShutdown(() => res()));
}

async function h2(): Promise<() => Promise<void>> {
  const { head, tail } = cannedAnswer();
  const server = http2.createServer();
  server.on('stream', (st) => {
    const chunks: Buffer[] = [];
    st.on('data', (d: Buffer) => chunks.push(d));
    st.on('error', () => undefined); // a call the client cancelled
    st.on('end', () => {
      if (st.destroyed || st.closed) return;
      const req = Buffer.concat(chunks);
      if (req.length < 5 || req[0] !== 0 || req.readUInt32BE(1) !== req.length - 5) {
        st.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '13', 'grpc-message': 'bad framing' }, { endStream: true });
        return;
      }
      st.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
      st.once('wantTrailers', () => st.sendTrailers({ 'grpc-status': '0' }));
      st.end(assembleWithId(head, readStringField(req.subarray(5), 3), [tail], true));
    });
  });
  await new Promise<void>((res) => server.listen(port, '127.0.0.1', res));
  return () => new Promise<void>((res) => server.close(() => res()));
}

const servers: Record<string, () => Promise<() => Promise<void>>> = { full, lean, h2 };
const start = servers[mode];
if (!start) throw new Error(`mode must be full, lean or h2, got ${mode}`);
const stop = await start();
process.stdout.write('ready\n');
process.once('SIGTERM', () => void stop().then(() => process.exit(0)));
