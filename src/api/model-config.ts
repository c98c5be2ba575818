/**
 * Triton's model configuration (`model_config.proto` ModelConfig) for the served supernet, in the
 * one shape both edges send: gRPC (proto-loader objects: enum names as strings, int64 as numbers)
 * and HTTP (`GET /v2/models/{m}/config`, the JSON Triton answers with proto field names). The
 * tensors come from the model's metadata with the batch dimension left out (Triton's rule when
 * max_batch_size > 0); the supernet's own knobs travel as `parameters` (string values, Triton's
 * ModelParameter).
 */
import type { ModelMetadata } from './types.js';

export interface ConfigTensor {
  readonly name: string;
  readonly data_type: string;
  readonly dims: readonly number[];
}

export interface TritonModelConfig {
  readonly name: string;
  readonly platform: string;
  readonly backend: string;
  readonly version_policy: { readonly latest: { readonly num_versions: number } };
  readonly max_batch_size: number;
  readonly input: readonly (ConfigTensor & { readonly format: string })[];
  readonly output: readonly (ConfigTensor & { readonly label_filename: string })[];
  readonly instance_group: readonly { readonly name: string; readonly count: number; readonly kind: string }[];
  readonly dynamic_batching: {
    readonly preferred_batch_size: readonly number[];
    readonly max_queue_delay_microseconds: number;
    readonly preserve_ordering: boolean;
    readonly priority_levels: number;
    readonly default_priority_level: number;
    readonly default_queue_policy: {
      readonly timeout_action: 'REJECT' | 'DELAY';
      readonly default_timeout_microseconds: number;
      readonly allow_timeout_override: boolean;
      readonly max_queue_size: number;
    };
  };
  readonly parameters: Readonly<Record<string, { readonly string_value: string }>>;
}

/** What the config says beyond the metadata: how the server batches and what it serves. */
export interface ModelConfigExtras {
  /** Executors (worker threads) of this process; 0 for a frontend alone. */
  readonly instances: number;
  /** Requests the shared queue holds before QUEUE_FULL (0: unbounded). */
  readonly maxQueueSize: number;
  /** The SLO budget of a request that gives none (us): Triton's default queue timeout. */
  readonly defaultTimeoutUs: number;
  /** The queue delay (us) and the preferred batch that ends it (config maxQueueDelayMs, preferredBatchImages). */
  readonly maxQueueDelayUs?: number;
  readonly preferredBatch?: number;
  /** Supernet knobs (subnets, Pareto set, SLO defaults, exits...), as strings. */
  readonly parameters: Readonly<Record<string, string>>;
}

/** Triton's DataType enum name of an Open Inference Protocol datatype (BYTES is TYPE_STRING). */
export function tritonDataType(datatype: string): string {
  return datatype === 'BYTES' ? 'TYPE_STRING' : `TYPE_${datatype}`;
}

/** The batch dimension (-1, first) dropped: Triton's dims when max_batch_size > 0. */
function dimsOf(shape: readonly number[]): number[] {
  return shape[0] === -1 ? shape.slice(1) : [...shape];
}

export function buildModelConfig(meta: ModelMetadata, x: ModelConfigExtras): TritonModelConfig {
  const params: Record<string, { string_value: string }> = {};
  for (const [k, v] of Object.entries(x.parameters)) params[k] = { string_value: v };
  return {
    name: meta.name,
    platform: meta.platform,
    backend: 'onnxruntime',
    version_policy: { latest: { num_versions: meta.versions.length } },
    max_batch_size: meta.maxBatch,
    input: meta.inputs.map((t) => ({ name: t.name, data_type: tritonDataType(t.datatype), format: t.shape.length === 4 ? 'FORMAT_NCHW' : 'FORMAT_NONE', dims: dimsOf(t.shape) })),
    output: meta.outputs.map((t) => ({ name: t.name, data_type: tritonDataType(t.datatype), dims: dimsOf(t.shape), label_filename: t.name === 'logits' && (meta.labels?.length ?? 0) > 0 ? 'manifest.json#dataset.classes' : '' })),
    instance_group: [{ name: meta.name, count: x.instances, kind: 'KIND_CPU' }],
    dynamic_batching: {
      // Triton lists preferred sizes only where a delay uses them
      preferred_batch_size: (x.maxQueueDelayUs ?? 0) > 0 && x.preferredBatch !== undefined ? [x.preferredBatch] : [],
      max_queue_delay_microseconds: x.maxQueueDelayUs ?? 0,
      preserve_ordering: false,
      priority_levels: 0,
      default_priority_level: 0,
      default_queue_policy: {
        timeout_action: 'REJECT',
        default_timeout_microseconds: x.defaultTimeoutUs,
        allow_timeout_override: true,
        max_queue_size: x.maxQueueSize,
      },
    },
    parameters: params,
  };
}
