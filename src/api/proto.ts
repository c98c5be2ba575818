/**
 * Loads the wire contract (`proto/grpc_service.proto`, `proto/health.proto`) with
 * @grpc/proto-loader, and types the message objects the servers read and write.
 *
 * Loader options (the server's; clients may load the same files with any options):
 * - `keepCase: true`: field names as in the .proto (`model_name`, `raw_input_contents`), so the
 *   code reads like the public protocol documents.
 * - `longs: String`: int64/uint64 values arrive as decimal strings. Numbers would silently round
 *   above 2^53; strings let the decoders reject such values with a precise message instead. On
 *   the way out, numbers are accepted for int64 fields (protobufjs converts them).
 * - `enums: String`, `bytes: Buffer`, `defaults: true` (absent scalars read as their zero value,
 *   absent messages as null), `oneofs: true` (`InferParameter.parameter_choice` names the set
 *   member).
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { SlackserveError } from '../errors.js';

export const LOADER_OPTIONS: Readonly<protoLoader.Options> = Object.freeze({
  keepCase: true,
  longs: String,
  enums: String,
  bytes: Buffer,
  defaults: true,
  oneofs: true,
});

/**
 * The package's `proto/` directory: the nearest one above this module (two levels up from
 * `src/api/` and `dist/api/`, three from `dist-bench/src/api/`).
 */
export const PROTO_DIR = findProtoDir();

function findProtoDir(): string {
  for (const up of ['../../proto/', '../../../proto/']) {
    const dir = fileURLToPath(new URL(up, import.meta.url));
    if (existsSync(`${dir}grpc_service.proto`)) return dir;
  }
  return fileURLToPath(new URL('../../proto/', import.meta.url));
}
export const INFERENCE_PROTO = 'grpc_service.proto';
export const HEALTH_PROTO = 'health.proto';

export const INFERENCE_SERVICE = 'inference.GRPCInferenceService';
export const HEALTH_SERVICE = 'grpc.health.v1.Health';

/** An int64/uint64 as the loader gives it (`longs: String`); numbers are accepted on input. */
export type WireLong = string | number;

export type ParameterChoice = 'bool_param' | 'int64_param' | 'string_param' | 'double_param' | 'uint64_param';

export interface WireInferParameter {
  parameter_choice?: ParameterChoice | undefined;
  bool_param?: boolean;
  int64_param?: WireLong;
  string_param?: string;
  double_param?: number;
  uint64_param?: WireLong;
}

export type WireParameters = Record<string, WireInferParameter>;

export interface WireTensorContents {
  bool_contents?: boolean[];
  int_contents?: number[];
  int64_contents?: WireLong[];
  uint_contents?: number[];
  uint64_contents?: WireLong[];
  fp32_contents?: number[];
  fp64_contents?: number[];
  bytes_contents?: Uint8Array[];
}

export interface WireInferInputTensor {
  name?: string;
  datatype?: string;
  shape?: WireLong[];
  parameters?: WireParameters;
  contents?: WireTensorContents | null;
}

export interface WireRequestedOutput {
  name?: string;
  parameters?: WireParameters;
}

/** A decoded `inference.ModelInferRequest` (every field optional: the decoders never trust it). */
export interface WireModelInferRequest {
  model_name?: string;
  model_version?: string;
  id?: string;
  parameters?: WireParameters;
  inputs?: WireInferInputTensor[];
  outputs?: WireRequestedOutput[];
  raw_input_contents?: Uint8Array[];
}

export interface WireInferOutputTensor {
  name: string;
  datatype: string;
  shape: WireLong[];
  parameters: WireParameters;
  contents: WireTensorContents | null;
}

export interface WireModelInferResponse {
  model_name: string;
  model_version: string;
  id: string;
  parameters: WireParameters;
  outputs: WireInferOutputTensor[];
  raw_output_contents: Buffer[];
}

export interface WireModelStreamInferResponse {
  error_message: string;
  infer_response: WireModelInferResponse | null;
}

export interface WireTensorMetadata {
  name: string;
  datatype: string;
  shape: WireLong[];
}

export interface WireModelMetadataResponse {
  name: string;
  versions: string[];
  platform: string;
  inputs: WireTensorMetadata[];
  outputs: WireTensorMetadata[];
}

export type HealthStatus = 'UNKNOWN' | 'SERVING' | 'NOT_SERVING' | 'SERVICE_UNKNOWN';

export interface LoadedProtos {
  readonly packageDefinition: protoLoader.PackageDefinition;
  readonly inference: grpc.ServiceDefinition;
  readonly health: grpc.ServiceDefinition;
}

let cached: LoadedProtos | undefined;

/** Loads both protos once per process (the definitions are immutable). */
export function loadProtos(protoDir: string = PROTO_DIR): LoadedProtos {
  if (cached && protoDir === PROTO_DIR) return cached;
  for (const file of [INFERENCE_PROTO, HEALTH_PROTO]) {
    if (!existsSync(`${protoDir}/${file}`))
      throw new SlackserveError('INTERNAL', `proto file ${file} not found in ${protoDir}`, { protoDir, file });
  }
  const packageDefinition = protoLoader.loadSync([INFERENCE_PROTO, HEALTH_PROTO], {
    ...LOADER_OPTIONS,
    includeDirs: [protoDir],
  });
  const service = (name: string): grpc.ServiceDefinition => {
    const def = packageDefinition[name];
    // a message type descriptor has `format`; a service definition is a plain method map
    if (!def || 'format' in def) {
      throw new SlackserveError('INTERNAL', `${name} is not a service in the loaded protos`);
    }
    return def as unknown as grpc.ServiceDefinition;
  };
  const loaded: LoadedProtos = {
    packageDefinition,
    inference: service(INFERENCE_SERVICE),
    health: service(HEALTH_SERVICE),
  };
  if (protoDir === PROTO_DIR) cached = loaded;
  return loaded;
}
