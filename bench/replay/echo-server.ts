/**
 * A gRPC OIP server that answers at once (no model): what the replay client is measured against.
 *
 *   node dist-bench/bench/replay/echo-server.js [port] [full|lean]
 *
 * - `full`: slackserve's own GrpcInferenceServer with a trivial backend (the real server stack:
 *   protobufjs decode, request checks, response encode). It costs about as much CPU per call as
 *   the client, and on 2 cores it saturates its one event loop near 2,000 req/s.
 * - `lean` (default): a bare grpc-js server with identity (de)serializers answering every
 *   ModelInfer with one pre-encoded ModelInferResponse (made by the same encoder as `full`:
 *   `slackserve.*` parameters, logits and class as raw outputs), with the request's id put in. It
 *   leaves the client most of the CPU, so what is measured is the client. Batch-1 requests only.
 */
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
let stop: () => Promise<void>;

if (mode === 'full') {
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
  stop = () => server.stop(100);
} else if (mode === 'lean') {
  const method = (loadProtos().inference as unknown as Record<string, { responseSerialize(v: unknown): Buffer }>)['ModelInfer'];
  if (!method) throw new Error('no ModelInfer in the loaded protos');
  const answer = encodeGrpcResponse({ model: cat.manifest.name, version: '1', id: '', batch: 1, classes: 10, outputs: ['logits', 'class'], answer: { logits: new Float32Array(10), servedBy }, raw: true });
  const head = method.responseSerialize({ model_name: answer.model_name, model_version: answer.model_version });
  const tail = method.responseSerialize({ parameters: answer.parameters, outputs: answer.outputs, raw_output_contents: answer.raw_output_contents });
  const id = (b: Buffer): Buffer => b;
  const server = new grpc.Server({ 'grpc.max_receive_message_length': 16 * 1024 * 1024 });
  server.addService(
    { ModelInfer: { path: '/inference.GRPCInferenceService/ModelInfer', requestStream: false, responseStream: false, requestSerialize: id, requestDeserialize: id, responseSerialize: id, responseDeserialize: id } },
    { ModelInfer: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => cb(null, assembleWithId(head, readStringField(call.request, 3), [tail])) },
  );
  await new Promise<void>((res, rej) => server.bindAsync(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure(), (e) => (e ? rej(e) : res())));
  stop = () => new Promise<void>((res) => server.tryShutdown(() => res()));
} else throw new Error(`mode must be full or lean, got ${mode}`);

process.stdout.write('ready\n');
process.once('SIGTERM', () => void stop().then(() => process.exit(0)));
