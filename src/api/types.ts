/**
 * The contract between the API edges (gRPC, HTTP) and whatever serves the requests. The edges
 * decode and validate, call an `InferenceBackend`, and encode; the backend (queue, scheduler,
 * executor) never sees a wire message.
 */
import type { Cancellation } from './cancel.js';
import type { Params } from './params.js';
import type { Slo } from './slo.js';
import type { TritonModelConfig } from './model-config.js';
import type { ModelStatisticsView } from '../metrics/model-stats.js';

/** The two outputs every model served through the API has. */
export const OUTPUT_NAMES = ['logits', 'class'] as const;
export type OutputName = (typeof OUTPUT_NAMES)[number];

export interface TensorMetadata {
  readonly name: string;
  /** Open Inference Protocol datatype: FP32, INT64... */
  readonly datatype: string;
  /** -1 marks the batch dimension. */
  readonly shape: readonly number[];
}

export interface ModelMetadata {
  readonly name: string;
  readonly versions: readonly string[];
  readonly platform: string;
  /** One FP32 input, shape [-1, ...sample shape]. */
  readonly inputs: readonly TensorMetadata[];
  /** `logits` (FP32, [-1, classes]) and `class` (INT64, [-1]). */
  readonly outputs: readonly TensorMetadata[];
  /** Largest batch one request may carry (not on the wire; the edges enforce it). */
  readonly maxBatch: number;
  /** Class labels, index = class (the classification extension's "score:index:label"). */
  readonly labels?: readonly string[];
}

export interface ServerMetadata {
  readonly name: string;
  readonly version: string;
  readonly extensions: readonly string[];
}

/** A validated input tensor: whole FP32 samples, row-major. */
export interface DecodedTensor {
  /**
   * batch x product(sampleShape) finite FP32 values as little-endian bytes. Over gRPC this is a
   * view into the received message (no copy): read it, never mutate or transfer it.
   */
  readonly bytes: Uint8Array;
  /** The same values as floats: a view when the bytes are aligned, else a copy made on first use. */
  readonly data: Float32Array;
  readonly batch: number;
  /** [batch, ...sampleShape]. */
  readonly shape: readonly number[];
}

export type Protocol = 'grpc' | 'grpc-stream' | 'http';

/** One validated inference request, as the backend receives it. */
export interface DecodedInfer {
  /** The client's request id ('' when none was given); echoed in the response. */
  readonly id: string;
  readonly model: string;
  /** '' when the client named no version. */
  readonly version: string;
  readonly tensor: DecodedTensor;
  readonly slo: Slo;
  /** Outputs to return, in order (all of OUTPUT_NAMES when the request named none). */
  readonly outputs: readonly OutputName[];
  /** The request sent raw_input_contents, so the response uses raw_output_contents. */
  readonly wantsRaw: boolean;
  readonly protocol: Protocol;
  /** Every request parameter (SLO ones included), for backends that read more. */
  readonly params: Params;
}

/** What served a request (reported as `slackserve.*` response parameters). */
export interface ServedBy {
  readonly subnet: string;
  /** Exit taken: a ramp's stage id, or 'final'. For a batch, the deepest exit any sample took. */
  readonly exit: string;
  /** Confidence of the answer (top softmax probability); for a batch, the lowest. */
  readonly confidence: number;
  readonly queueUs: number;
  readonly computeUs: number;
  /** From the request's arrival stamp at the edge to its answer at the frontend, µs (absent on early answers). */
  readonly serverUs?: number;
  /** Of the compute time: copying the batch's requests into the executor's buffer, µs (Triton's compute_input). */
  readonly inputUs?: number;
  /** After the batch: building this request's reply, µs (Triton's compute_output). */
  readonly outputUs?: number;
  /** Finished by the request's deadline. */
  readonly deadlineMet: boolean;
  /** Served by a subnet below the requested minimum accuracy (admission downgraded it). */
  readonly downgraded: boolean;
  /** A partial answer from an early-exit ramp, sent before the final one (streams only). */
  readonly early?: boolean;
  /** Answered at the deadline with the best exit reached so far (the final exit did not finish). */
  readonly deadlineAnswer?: boolean;
}

export interface InferAnswer {
  /** batch x classes logits, row-major. */
  readonly logits: Float32Array;
  /** Predicted class per sample (argmax of the logits when absent). */
  readonly classes?: ArrayLike<number>;
  readonly servedBy: ServedBy;
}

export interface InferContext {
  /** Fires when the client cancels or disconnects: drop the request (queue) or stop its work. */
  readonly cancel: Cancellation;
  /** Present on streams only: partial (early-exit) answers sent before the final one. */
  readonly onEarly?: (partial: InferAnswer) => void;
}

/**
 * What the edges need from the server. Errors are `SlackserveError`s: MODEL_UNKNOWN for an unknown
 * model, QUEUE_FULL, DEADLINE_EXPIRED, CANCELLED (after the call was cancelled), BACKEND_UNAVAILABLE...
 */
export interface InferenceBackend {
  /** Process liveness (must not depend on Redis). */
  live(): boolean;
  /** Ready to serve (Redis reachable, executor up...). */
  ready(): Promise<boolean>;
  /** False (or MODEL_UNKNOWN) for an unknown model or version. */
  modelReady(name: string, version: string): Promise<boolean>;
  serverMetadata(): ServerMetadata;
  /** Throws MODEL_UNKNOWN for unknown names or versions. */
  modelMetadata(name: string, version: string): ModelMetadata;
  infer(req: DecodedInfer, ctx: InferContext): Promise<InferAnswer>;
  /** Triton's ModelConfig (absent: the edges answer UNSUPPORTED). Throws MODEL_UNKNOWN. */
  modelConfig?(name: string, version: string): TritonModelConfig;
  /** Triton's ModelStatistics of the matching models ('' matches all). Unknown name: MODEL_UNKNOWN. */
  modelStatistics?(name: string, version: string): Promise<readonly ModelStatisticsView[]>;
  /** Triton's repository index: every model this server serves, with its state. */
  repositoryIndex?(readyOnly: boolean): Promise<readonly RepositoryModel[]>;
  /**
   * Told about an inference request the edge failed before calling `infer` (undecodable, bad
   * tensor, unknown model, over a limit, deadline already past), so every failure is counted.
   * `arrivalMs`: when the call reached the server.
   */
  recordEdgeFailure?(model: string, version: string, err: unknown, arrivalMs: number): void;
}

/** One entry of Triton's repository index. */
export interface RepositoryModel {
  readonly name: string;
  readonly version: string;
  /** READY or UNAVAILABLE. */
  readonly state: string;
  readonly reason: string;
}
