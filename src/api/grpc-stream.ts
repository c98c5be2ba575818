/**
 * Triton's ModelStreamInfer on the gRPC edge: every request of the stream gets its answers on the
 * stream, each echoing the request id. With early exits a request gets early answers before its
 * final one; every answer carries Triton's `triton_final_response` parameter (false on early
 * answers, true on the last one, as Triton sends it when a client sets
 * `triton_enable_empty_final_response`), so a client knows when a request is done. A failed request
 * gets `error_message` (Triton's clients hand only that string to their callback, so it ends with
 * the request id) and an `infer_response` with the id, the error code and `triton_final_response`
 * true. A bad request fails only itself; the stream stays open.
 */
import type * as grpc from '@grpc/grpc-js';
import { SlackserveError } from '../errors.js';
import { CallCancel } from './cancel.js';
import type { Prepared } from './grpc-prepare.js';
import { isWireDecodeFailure, type WireInferRequestOrFailure } from './infer-wire.js';
import { toWireParams } from './params.js';
import type { WireModelInferRequest, WireModelInferResponse, WireModelStreamInferResponse } from './proto.js';
import { toGrpcStatus } from './status.js';
import type { InferAnswer, InferenceBackend } from './types.js';

/** Triton's response parameter marking a request's last response on a stream. */
export const FINAL_RESPONSE_PARAM = 'triton_final_response';

export interface StreamContext {
  readonly backend: InferenceBackend;
  /** Unanswered requests one stream may hold. */
  readonly maxInflight: number;
  readonly prepare: (req: WireModelInferRequest, grpcDeadlineMs: number) => Prepared;
  readonly encode: (p: Prepared, answer: InferAnswer) => WireModelInferResponse;
  readonly reportError: (err: unknown, rpc: string) => void;
  readonly edgeFailure: (req: WireModelInferRequest, err: unknown) => void;
}

/** A call's deadline as epoch ms (Infinity when none). */
export function deadlineMsOf(call: { getDeadline(): grpc.Deadline }): number {
  const d = call.getDeadline();
  return d instanceof Date ? d.getTime() : d;
}

function withFinal(r: WireModelInferResponse, final: boolean): WireModelInferResponse {
  return { ...r, parameters: { ...r.parameters, [FINAL_RESPONSE_PARAM]: { parameter_choice: 'bool_param', bool_param: final } } };
}

/** A stream's answer to one failed request: the message (ending with the request id) and the id. */
export function streamError(req: WireModelInferRequest, err: unknown): WireModelStreamInferResponse {
  const g = toGrpcStatus(err);
  const id = req.id ?? '';
  return {
    error_message: id === '' ? g.details : `${g.details} [request id: ${id}]`,
    infer_response: {
      model_name: req.model_name ?? '',
      model_version: req.model_version ?? '',
      id,
      parameters: toWireParams([
        ['slackserve.error_code', { kind: 'string', value: g.errorCode }],
        ['slackserve.grpc_code', { kind: 'int64', value: g.code }],
        [FINAL_RESPONSE_PARAM, { kind: 'bool', value: true }],
      ]),
      outputs: [],
      raw_output_contents: [],
    },
  };
}

export function serveStream(call: grpc.ServerDuplexStream<WireInferRequestOrFailure, WireModelStreamInferResponse>, ctx: StreamContext): void {
  const inflight = new Set<CallCancel>();
  let inputEnded = false;
  let closed = false;
  const deadline = deadlineMsOf(call);

  const close = (): void => {
    if (closed) return;
    closed = true;
    for (const c of inflight) c.cancel();
  };
  const write = (msg: WireModelStreamInferResponse): void => {
    if (closed || call.writableEnded) return;
    try {
      call.write(msg);
    } catch (err) {
      ctx.reportError(err, 'ModelStreamInfer/write');
    }
  };
  const maybeEnd = (): void => {
    if (!inputEnded || inflight.size > 0 || closed || call.writableEnded) return;
    try {
      call.end();
    } catch (err) {
      ctx.reportError(err, 'ModelStreamInfer/end');
    }
  };
  call.on('cancelled', close);
  call.on('error', close);
  call.on('end', () => {
    inputEnded = true;
    maybeEnd();
  });
  call.on('data', (req: WireInferRequestOrFailure) => {
    if (closed) return;
    if (isWireDecodeFailure(req)) {
      // only this message is bad: answer it, keep the stream
      const err = new SlackserveError(req.code, req.message);
      ctx.reportError(err, 'ModelStreamInfer');
      ctx.edgeFailure({}, err);
      write(streamError({}, err));
      return;
    }
    if (inflight.size >= ctx.maxInflight) {
      const err = new SlackserveError('OVERLOADED', `this stream has ${ctx.maxInflight} requests unanswered, its limit (maxStreamInflight); wait for answers before sending more`);
      ctx.reportError(err, 'ModelStreamInfer');
      ctx.edgeFailure(req, err);
      write(streamError(req, err));
      return;
    }
    const cancel = new CallCancel();
    inflight.add(cancel);
    // streamOne answers every failure itself; the chain below only tidies up
    void streamOne(ctx, req, deadline, cancel, write).finally(() => {
      inflight.delete(cancel);
      maybeEnd();
    });
  });
}

/** One request of a stream: early answers, then the final answer or an error_message. */
async function streamOne(ctx: StreamContext, req: WireModelInferRequest, deadline: number, cancel: CallCancel, write: (msg: WireModelStreamInferResponse) => void): Promise<void> {
  let finished = false;
  try {
    let prepared: Prepared;
    try {
      prepared = ctx.prepare(req, deadline);
    } catch (err) {
      ctx.edgeFailure(req, err);
      throw err;
    }
    const p = prepared;
    const onEarly = (partial: InferAnswer): void => {
      if (finished || cancel.cancelled) return;
      try {
        const early = { ...partial, servedBy: { ...partial.servedBy, early: true } };
        write({ error_message: '', infer_response: withFinal(ctx.encode(p, early), false) });
      } catch (err) {
        ctx.reportError(err, 'ModelStreamInfer/early');
      }
    };
    const answer = await ctx.backend.infer(p.decoded, { cancel, onEarly });
    finished = true;
    write({ error_message: '', infer_response: withFinal(ctx.encode(p, answer), true) });
  } catch (err) {
    finished = true;
    if (cancel.cancelled) return;
    ctx.reportError(err, 'ModelStreamInfer');
    write(streamError(req, err));
  }
}
