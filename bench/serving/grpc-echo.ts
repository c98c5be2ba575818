/**
 * The floor for bench/serving/edge.ts: a bare @grpc/grpc-js server on proto/grpc_service.proto
 * that implements only ModelInfer and answers every call with one fixed ModelInferResponse (10 FP32
 * logits as raw_output_contents), without decoding checks, queue or model. No slackserve code.
 *
 *   node dist-bench/bench/serving/grpc-echo.js <port>     # prints "ready <port>" on stdout
 */
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { ECHO_ANSWER } from './echo-answer.js';

const protoFile = fileURLToPath(new URL('../../../proto/grpc_service.proto', import.meta.url));
const def = protoLoader.loadSync(protoFile, { keepCase: true, longs: String, enums: String, bytes: Buffer, defaults: true, oneofs: true });
const pkg = grpc.loadPackageDefinition(def) as unknown as { inference: { GRPCInferenceService: { service: grpc.ServiceDefinition } } };

const server = new grpc.Server();
server.addService(pkg.inference.GRPCInferenceService.service, {
  ModelInfer: (_call: grpc.ServerUnaryCall<unknown, unknown>, cb: grpc.sendUnaryData<unknown>) => cb(null, ECHO_ANSWER),
});
const port = await new Promise<number>((res, rej) =>
  server.bindAsync(`127.0.0.1:${process.argv[2] ?? '0'}`, grpc.ServerCredentials.createInsecure(), (e, p) => (e ? rej(e) : res(p))),
);
process.stdout.write(`ready ${port}\n`);
process.once('SIGTERM', () => server.tryShutdown(() => process.exit(0)));
