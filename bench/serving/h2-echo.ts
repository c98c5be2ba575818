/**
 * The floor below grpc-js for bench/serving/edge.ts: a bare `node:http2` server that answers
 * every ModelInfer call (any path) with the same framed ModelInferResponse the grpc-js echo sends
 * (grpc-echo.ts), grpc-status 0 in trailers. It reads each request body to its end and discards
 * it: no gRPC framing, no protobuf, no metadata objects, no slackserve code. What it costs per call
 * is what node:http2 itself costs, the least any server of this stack can spend on the wire.
 *
 *   node dist-bench/bench/serving/h2-echo.js <port>     # prints "ready <port>" on stdout
 */
import { createServer, constants } from 'node:http2';
import { fileURLToPath } from 'node:url';
import * as protoLoader from '@grpc/proto-loader';
import { ECHO_ANSWER } from './echo-answer.js';

const def = protoLoader.loadSync(fileURLToPath(new URL('../../../proto/grpc_service.proto', import.meta.url)), { keepCase: true, longs: String, defaults: true, oneofs: true });
const method = (def['inference.GRPCInferenceService'] as protoLoader.ServiceDefinition)['ModelInfer']!;
const msg = method.responseSerialize(ECHO_ANSWER);
const framed = Buffer.alloc(5 + msg.length);
framed.writeUInt32BE(msg.length, 1);
msg.copy(framed, 5);

const HEADERS = { [constants.HTTP2_HEADER_STATUS]: 200, [constants.HTTP2_HEADER_CONTENT_TYPE]: 'application/grpc' };
const TRAILERS = { 'grpc-status': '0' };

const server = createServer({ settings: { maxConcurrentStreams: 1000 } });
server.on('stream', (stream) => {
  stream.on('data', () => undefined);
  stream.once('end', () => {
    if (stream.destroyed) return;
    stream.respond(HEADERS, { waitForTrailers: true });
    stream.once('wantTrailers', () => stream.sendTrailers(TRAILERS));
    stream.end(framed);
  });
  stream.on('error', () => undefined);
});
server.listen(Number(process.argv[2] ?? 0), '127.0.0.1', () => {
  const a = server.address();
  process.stdout.write(`ready ${a && typeof a === 'object' ? a.port : 0}\n`);
});
process.once('SIGTERM', () => server.close(() => process.exit(0)));
