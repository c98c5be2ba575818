/**
 * A gRPC inference request made ready for the backend, and its answer made ready for encoding:
 * model lookup, tensor and SLO validation before the backend call (`prepareInfer`), and the
 * arguments every gRPC encoder takes after it (`encodeArgsOf`). Shared by the unary handler, the
 * fast path and streams (grpc-server.ts, grpc-stream.ts). Pure apart from the backend's model
 * lookup: the arrival stamp and the clock are given.
 */
import { ARRIVAL, type Stamped } from './grpc-guard.js';
import type { OutputOptions } from './outputs.js';
import { fromWireParams } from './params.js';
import type { WireModelInferRequest } from './proto.js';
import { parseSlo } from './slo.js';
import { decodeGrpcInput, type GrpcEncodeArgs, tensorSpecOf, type TensorSpec } from './tensors.js';
import type { DecodedInfer, InferAnswer, InferenceBackend, Protocol } from './types.js';

export interface Prepared {
  readonly decoded: DecodedInfer;
  readonly spec: TensorSpec;
  readonly responseVersion: string;
  readonly options: OutputOptions;
}

export interface PrepareContext {
  readonly backend: Pick<InferenceBackend, 'modelMetadata'>;
  /** The clock, when the request carries no arrival stamp (epoch ms). */
  readonly now: () => number;
  readonly defaultBudgetMs: number;
  readonly defaultSheddable?: boolean | undefined;
}

/** Model lookup, tensor and SLO validation: everything before the backend. */
export function prepareInfer(ctx: PrepareContext, req: WireModelInferRequest, protocol: Protocol, grpcDeadlineMs: number): Prepared {
  // the SLO clock starts when the call reached the server (the guard's stamp), not after its
  // body was read and decoded
  const now = (req as Stamped)[ARRIVAL] ?? ctx.now();
  const model = req.model_name ?? '';
  const version = req.model_version ?? '';
  const meta = ctx.backend.modelMetadata(model, version);
  const spec = tensorSpecOf(meta);
  const input = decodeGrpcInput(req, spec);
  const params = fromWireParams(req.parameters);
  const slo = parseSlo(params, {
    now,
    defaultBudgetMs: ctx.defaultBudgetMs,
    grpcDeadlineMs,
    ...(ctx.defaultSheddable !== undefined ? { defaultSheddable: ctx.defaultSheddable } : {}),
  });
  const decoded: DecodedInfer = {
    id: req.id ?? '',
    model,
    version,
    tensor: input.tensor,
    slo,
    outputs: input.outputs,
    wantsRaw: input.wantsRaw,
    protocol,
    params,
  };
  return { decoded, spec, responseVersion: version || meta.versions[0] || '', options: input.options };
}

/** What the gRPC encoders (encodeGrpcResponse, encodeAnswerFramed) take for `answer`. */
export function encodeArgsOf(p: Prepared, answer: InferAnswer): GrpcEncodeArgs {
  return {
    model: p.decoded.model,
    version: p.responseVersion,
    id: p.decoded.id,
    batch: p.decoded.tensor.batch,
    classes: p.spec.classes,
    outputs: p.decoded.outputs,
    answer,
    raw: p.decoded.wantsRaw,
    options: p.options,
    labels: p.spec.labels,
  };
}
