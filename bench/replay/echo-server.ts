/** A gRPC OIP server that answers at once (no model): what the replay client is measured against. */
import { GrpcInferenceServer } from '../../src/api/grpc-server.js';
import { modelMetadataFromManifest } from '../../src/api/tensors.js';
import type { InferenceBackend } from '../../src/api/types.js';
import { Catalogue } from '../../src/supernet/catalogue.js';

const cat = Catalogue.load('supernets/fmnist-resnet');
const meta = modelMetadataFromManifest(cat.manifest, { maxBatch: 64 });
const backend: InferenceBackend = {
  live: () => true,
  ready: async () => true,
  modelReady: async () => true,
  serverMetadata: () => ({ name: 'echo', version: '0', extensions: [] }),
  modelMetadata: () => meta,
  infer: async (req) => ({
    logits: new Float32Array(10 * req.tensor.batch),
    servedBy: { subnet: 'echo', exit: 'final', confidence: 1, queueUs: 0, computeUs: 0, deadlineMet: true, downgraded: false },
  }),
};
const server = new GrpcInferenceServer(backend, { host: '127.0.0.1', port: Number(process.argv[2] ?? 18701), defaultBudgetMs: 100 });
await server.start();
process.stdout.write('ready\n');
process.once('SIGTERM', () => void server.stop(100).then(() => process.exit(0)));
