/**
 * A hand-written, bounded, zero-copy protobuf codec for the two inference RPCs (ModelInfer and
 * ModelStreamInfer), replacing protobufjs (via @grpc/proto-loader) on the hot path.
 *
 * Why: protobufjs decodes a request into a message object and then copies it again into a plain
 * object (`toObject`), with no bound on the work: however many parameters or inputs a message
 * holds, all are built before any code of ours can look at them (600k parameters in 5.4 MB cost
 * it 0.2-0.3 s of event loop in bench/serving/wire-codec.ts). This decoder counts as it reads and
 * stops at the first limit passed (`WireLimits`), so the same request costs microseconds, and it
 * is about 2x faster on ordinary requests (4x with typed contents). Bytes (`raw_input_contents`,
 * `bytes_contents`) are views of the received buffer, never copies.
 *
 * Output shape: exactly what protobufjs + proto-loader give under LOADER_OPTIONS (proto.ts):
 * int64/uint64 as decimal strings, absent strings '', absent repeated fields [], absent maps {},
 * absent `contents` null, every InferParameter with `parameter_choice` naming its member. So
 * `decodeGrpcInput` (tensors.ts) and `fromWireParams` (params.ts) take it unchanged. Where the
 * encoding is malformed, this decoder is stricter than protobufjs and says so with a failure:
 * - a string or bytes length running past the end of its (sub)message (protobufjs silently
 *   truncates strings at the end of the buffer);
 * - a known field with a wire type that is not its own (protobufjs reads it as if it were, giving
 *   garbage), field number 0, wire types 6/7, an unmatched group end, a varint over 10 bytes,
 *   a packed fp32/fp64 run whose length is not a multiple of 4/8.
 * And where protobufjs has no defined answer, it follows the protobuf specification:
 * - a map entry without a value gets the empty InferParameter `{}` (protobufjs throws a
 *   TypeError from toObject, which grpc-js turns into INTERNAL);
 * - several oneof members in one InferParameter: the last one on the wire wins (protobufjs keeps
 *   them all and names the highest-numbered one in `parameter_choice`);
 * - a bool varint is true when any of its 64 bits is set (protobufjs looks at the low 32 only).
 * Invalid UTF-8 in strings decodes lossily to U+FFFD, exactly as protobufjs does for Buffers
 * (both use Buffer's UTF-8 decoder). A repeated singular sub-message (`contents` twice) replaces
 * the earlier one, as protobufjs does (the specification would merge them).
 *
 * Contract with grpc-js (grpcInferenceMethodOverrides): grpc-js maps an exception thrown by a
 * `requestDeserialize` to status INTERNAL ("Error deserializing request", server-interceptors.js),
 * which would blame the server for a client's bad bytes and hide the reason. So the decoder never
 * throws: it RETURNS a `WireDecodeFailure`, grpc-js hands it to the method handler as the request,
 * and the handler must check it first (`isWireDecodeFailure(req)`) and answer the call with
 * `wireFailureStatus(failure)`: INVALID_ARGUMENT for malformed bytes, RESOURCE_EXHAUSTED for a limit
 * passed. On ModelStreamInfer a failure concerns only that message of the stream: answer it with an
 * `error_message` and keep the stream open, as for any other bad request on a stream.
 *
 * Retention: the views keep the whole received message buffer alive for as long as the decoded
 * request is referenced. The server reads the tensor through float32View (a view when aligned)
 * and copies it into the batch buffer before the batch runs, so
 * this costs nothing there; other users should copy what they keep.
 */
import * as grpc from '@grpc/grpc-js';
import { encodeModelInferResponse, encodeModelStreamInferResponse } from './infer-wire-encode.js';
import { readRequest, RequestReader } from './infer-wire-decode.js';
import { invalid, WireDecodeFailure } from './pb-reader.js';
import type { WireModelInferRequest } from './proto.js';

export { encodeModelInferResponse, encodeModelStreamInferResponse } from './infer-wire-encode.js';
export { isWireDecodeFailure, MAX_FAILURE_MESSAGE, WireDecodeFailure, type WireFailureCode } from './pb-reader.js';

/** Bounds on one decoded ModelInferRequest. Passing one ends decoding with LIMIT_EXCEEDED at once. */
export interface WireLimits {
  /** Entries of the request's `parameters` map. */
  readonly maxRequestParameters: number;
  /** Entries of one input's or requested output's `parameters` map. */
  readonly maxTensorParameters: number;
  /** `inputs` entries; also bounds `raw_input_contents` entries (one per input). */
  readonly maxInputs: number;
  /** `outputs` (requested outputs) entries. */
  readonly maxOutputs: number;
  /** Dimensions of one input's `shape`. */
  readonly maxShapeDims: number;
  /** UTF-8 bytes of model_name, model_version, id, tensor names, datatypes and parameter names. */
  readonly maxNameBytes: number;
  /** UTF-8 bytes of one `string_param` value. */
  readonly maxStringParamBytes: number;
  /** Typed `contents` values (all numeric and bool kinds) summed over every input of the request. */
  readonly maxContentsElements: number;
  /** `bytes_contents` entries summed over every input (each costs a Buffer view). */
  readonly maxBytesContents: number;
  /** Fields of unknown number skipped anywhere in the request (forward compatibility, bounded). */
  readonly maxUnknownFields: number;
}

/**
 * Defaults: generous for the Open Inference Protocol as clients use it (one or a few tensors, a
 * handful of parameters), small enough that the worst request costs well under a millisecond,
 * except for typed contents, which cost some ns per value (the full 1<<20 budget of packed fp32
 * decodes in ~7 ms in bench/serving/wire-codec.ts).
 */
export const DEFAULT_WIRE_LIMITS: WireLimits = Object.freeze({
  maxRequestParameters: 64,
  maxTensorParameters: 64,
  maxInputs: 16,
  maxOutputs: 16,
  maxShapeDims: 8,
  maxNameBytes: 256,
  // Triton clients pass JSON-ish strings (e.g. sequence ids, headers) as parameters
  maxStringParamBytes: 4096,
  // a batch of 64 28x28 images as fp32_contents is 50,176 values; 20x margin
  maxContentsElements: 1 << 20,
  maxBytesContents: 4096,
  maxUnknownFields: 256,
});

/**
 * Decodes `inference.ModelInferRequest` bytes. Never throws: malformed bytes or a limit passed
 * give a `WireDecodeFailure` (INPUT_INVALID / LIMIT_EXCEEDED) with a short message.
 */
export function decodeModelInferRequest(buf: Uint8Array, limits: WireLimits = DEFAULT_WIRE_LIMITS): WireModelInferRequest | WireDecodeFailure {
  try {
    const b = Buffer.isBuffer(buf) ? buf : Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
    return readRequest(new RequestReader(b, limits));
  } catch (e) {
    if (e instanceof WireDecodeFailure) return e;
    // No input is known to get here; a deserializer must still not throw (see the header)
    return invalid(`undecodable request (decoder ${e instanceof Error ? e.name : 'error'})`);
  }
}

// ---- grpc-js wiring -----------------------------------------------------------------------------

/** What a ModelInfer / ModelStreamInfer handler receives once the overrides are installed. */
export type WireInferRequestOrFailure = WireModelInferRequest | WireDecodeFailure;

/** The gRPC status for a decode failure: INVALID_ARGUMENT, or RESOURCE_EXHAUSTED for a limit. */
export function wireFailureStatus(f: WireDecodeFailure): { code: grpc.status; details: string } {
  return {
    code: f.code === 'LIMIT_EXCEEDED' ? grpc.status.RESOURCE_EXHAUSTED : grpc.status.INVALID_ARGUMENT,
    details: f.message,
  };
}

/**
 * A copy of the inference service definition (`loadProtos().inference`) whose ModelInfer and
 * ModelStreamInfer decode requests and encode responses with this codec. The client-side halves
 * (requestSerialize, responseDeserialize) stay protobufjs's. Handlers receive
 * `WireInferRequestOrFailure` and must check for a failure first (see the header).
 */
export function grpcInferenceMethodOverrides(service: grpc.ServiceDefinition, limits: WireLimits = DEFAULT_WIRE_LIMITS): grpc.ServiceDefinition {
  const infer = service['ModelInfer'];
  const stream = service['ModelStreamInfer'];
  if (!infer || !stream) throw new Error('grpcInferenceMethodOverrides: the service has no ModelInfer/ModelStreamInfer');
  const requestDeserialize = (b: Buffer): WireInferRequestOrFailure => decodeModelInferRequest(b, limits);
  return {
    ...service,
    ModelInfer: { ...infer, requestDeserialize, responseSerialize: encodeModelInferResponse },
    ModelStreamInfer: { ...stream, requestDeserialize, responseSerialize: encodeModelStreamInferResponse },
  };
}
