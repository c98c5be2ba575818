/**
 * A small Open Inference Protocol gRPC client (what `slackserve replay`, the serving benchmarks
 * and the end-to-end tests use). It loads our `proto/grpc_service.proto` with its own loader
 * options, sends raw FP32 inputs and SLO parameters, and decodes raw outputs and the
 * `slackserve.*` response parameters. Any OIP client (Triton's tritonclient, KServe's) works too.
 */
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { PROTO_DIR } from '../api/proto.js';

const PROTO = `${PROTO_DIR}grpc_service.proto`;

/** The ModelInfer method's path, for calls made with our own (de)serializers. */
export const MODEL_INFER_PATH = '/inference.GRPCInferenceService/ModelInfer';

interface MethodDef {
  requestSerialize(value: unknown): Buffer;
  responseDeserialize(bytes: Buffer): unknown;
}

let definition: protoLoader.PackageDefinition | undefined;

/** The client's view of the proto (its own loader options), loaded once per thread. */
function loadDefinition(): protoLoader.PackageDefinition {
  definition ??= protoLoader.loadSync(PROTO, { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true });
  return definition;
}

function modelInferMethod(): MethodDef {
  const service = loadDefinition()['inference.GRPCInferenceService'] as unknown as Record<string, MethodDef>;
  return service['ModelInfer'] as MethodDef;
}

const identity = (b: Buffer): Buffer => b;

export type ParamValue = string | number | boolean;

export interface InferCall {
  readonly model: string;
  /** batch x sample floats. */
  readonly images: Float32Array;
  readonly shape: readonly number[];
  readonly inputName?: string;
  readonly id?: string;
  /** Request parameters: numbers become double_param unless the key is Triton's `timeout`/`priority` (int64). */
  readonly params?: Readonly<Record<string, ParamValue>>;
  /** gRPC deadline, epoch ms. */
  readonly deadlineMs?: number;
  readonly signal?: AbortSignal;
}

export interface InferResult {
  readonly id: string;
  readonly logits: Float32Array;
  readonly classes: number[];
  readonly params: Record<string, ParamValue>;
}

export interface StreamMessage {
  readonly error?: string;
  readonly result?: InferResult;
}

interface WireParam {
  bool_param?: boolean;
  int64_param?: string | number;
  string_param?: string;
  double_param?: number;
  uint64_param?: string | number;
  parameter_choice?: string;
}

type Unary = (req: unknown, md: grpc.Metadata, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res: unknown) => void) => grpc.ClientUnaryCall;

export function toWireParams(params: Readonly<Record<string, ParamValue>>): Record<string, WireParam> {
  const out: Record<string, WireParam> = {};
  for (const [k, v] of Object.entries(params)) {
    if (typeof v === 'boolean') out[k] = { bool_param: v };
    else if (typeof v === 'string') out[k] = { string_param: v };
    else if (k === 'timeout' || k === 'priority') out[k] = { int64_param: Math.round(v) };
    else out[k] = { double_param: v };
  }
  return out;
}

function fromWireParams(p: Record<string, WireParam> | undefined): Record<string, ParamValue> {
  const out: Record<string, ParamValue> = {};
  for (const [k, v] of Object.entries(p ?? {})) {
    const c = v.parameter_choice as keyof WireParam | undefined;
    const val = c ? v[c] : undefined;
    if (val !== undefined) out[k] = typeof val === 'string' && (c === 'int64_param' || c === 'uint64_param') ? Number(val) : (val as ParamValue);
  }
  return out;
}

interface WireResponse {
  id: string;
  parameters?: Record<string, WireParam>;
  outputs: { name: string; datatype: string; shape: (string | number)[] }[];
  raw_output_contents: Buffer[];
}

export function decodeResponse(r: WireResponse): InferResult {
  let logits = new Float32Array(0);
  let classes: number[] = [];
  r.outputs.forEach((o, i) => {
    const raw = r.raw_output_contents[i];
    if (!raw) return;
    const copy = new Uint8Array(raw); // aligned copy
    if (o.name === 'logits') logits = new Float32Array(copy.buffer, 0, copy.byteLength / 4);
    else if (o.name === 'class') classes = Array.from(new BigInt64Array(copy.buffer, 0, copy.byteLength / 8), Number);
  });
  return { id: r.id, logits, classes, params: fromWireParams(r.parameters) };
}

/** How the client proves itself and checks the server: a bearer token, TLS (mutual with cert + key). */
export interface ClientSecurity {
  /** Sent as `authorization: Bearer <token>` on every call. */
  readonly token?: string | undefined;
  /** PEM CA the server's certificate must chain to: TLS on. */
  readonly rootCa?: Buffer | undefined;
  /** PEM client certificate chain and key (mutual TLS). */
  readonly cert?: Buffer | undefined;
  readonly key?: Buffer | undefined;
}

export class OipClient {
  private readonly client: grpc.Client & Record<string, Unary>;
  private readonly token: string | undefined;

  constructor(target: string, options: grpc.ChannelOptions = {}, security: ClientSecurity = {}) {
    const pkg = grpc.loadPackageDefinition(loadDefinition()) as unknown as { inference: { GRPCInferenceService: grpc.ServiceClientConstructor } };
    this.token = security.token;
    const creds =
      security.rootCa !== undefined
        ? grpc.credentials.createSsl(security.rootCa, security.key ?? null, security.cert ?? null)
        : grpc.credentials.createInsecure();
    this.client = new pkg.inference.GRPCInferenceService(target, creds, {
      'grpc.max_receive_message_length': 64 * 1024 * 1024,
      'grpc.max_send_message_length': 64 * 1024 * 1024,
      ...options,
    }) as unknown as grpc.Client & Record<string, Unary>;
  }

  private unary<T>(method: string, req: unknown, opts: grpc.CallOptions = {}, signal?: AbortSignal): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const fn = this.client[method] as Unary;
      const call = fn.call(this.client, req, this.metadata(), opts, (err, res) => (err ? reject(err) : resolve(res as T)));
      signal?.addEventListener('abort', () => call.cancel(), { once: true });
    });
  }

  private metadata(): grpc.Metadata {
    const md = new grpc.Metadata();
    if (this.token !== undefined) md.set('authorization', `Bearer ${this.token}`);
    return md;
  }

  static request(c: InferCall): unknown {
    return {
      model_name: c.model,
      id: c.id ?? '',
      parameters: toWireParams(c.params ?? {}),
      inputs: [{ name: c.inputName ?? 'image', datatype: 'FP32', shape: [...c.shape] }],
      raw_input_contents: [Buffer.from(c.images.buffer, c.images.byteOffset, c.images.byteLength)],
    };
  }

  /** The bytes `infer(c)` sends (protobufjs through the loader's serializer). */
  static encodeRequest(c: InferCall): Buffer {
    return modelInferMethod().requestSerialize(OipClient.request(c));
  }

  /**
   * Some fields of a ModelInferRequest encoded alone (wire names, e.g. `{ parameters }`): pieces
   * that concatenate, in field-number order, into a whole request (see wire.ts).
   */
  static encodeRequestFields(fields: Readonly<Record<string, unknown>>): Buffer {
    return modelInferMethod().requestSerialize(fields);
  }

  /** A whole ModelInferResponse decoded by protobufjs (the slow, complete path). */
  static decodeResponseBytes(bytes: Buffer): InferResult {
    return decodeResponse(modelInferMethod().responseDeserialize(bytes) as WireResponse);
  }

  /**
   * ModelInfer with an already encoded request; the callback gets the response bytes undecoded
   * (read them with `readInferResponse` or `decodeResponseBytes`). No per-call serialization.
   */
  inferEncoded(bytes: Buffer, deadlineMs: number | undefined, cb: (err: grpc.ServiceError | null, res?: Buffer) => void): grpc.ClientUnaryCall {
    const opts: grpc.CallOptions = deadlineMs !== undefined ? { deadline: new Date(deadlineMs) } : {};
    return this.client.makeUnaryRequest<Buffer, Buffer>(MODEL_INFER_PATH, identity, identity, bytes, this.metadata(), opts, cb);
  }

  /** Resolves true once the channel is connected (false if not within `timeoutMs`); sends nothing. */
  connect(timeoutMs: number): Promise<boolean> {
    return new Promise((resolve) => this.client.waitForReady(Date.now() + timeoutMs, (err) => resolve(!err)));
  }

  async infer(c: InferCall): Promise<InferResult> {
    const opts: grpc.CallOptions = c.deadlineMs !== undefined ? { deadline: new Date(c.deadlineMs) } : {};
    return decodeResponse(await this.unary<WireResponse>('ModelInfer', OipClient.request(c), opts, c.signal));
  }

  serverLive(): Promise<{ live: boolean }> {
    return this.unary('ServerLive', {});
  }

  serverReady(): Promise<{ ready: boolean }> {
    return this.unary('ServerReady', {});
  }

  /** Resolves once the server answers ServerReady with true (or rejects after `timeoutMs`). */
  async waitReady(timeoutMs: number): Promise<void> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      try {
        if ((await this.unary<{ ready: boolean }>('ServerReady', {}, { deadline: new Date(Date.now() + 1000) })).ready) return;
      } catch {
        // not up yet
      }
      if (Date.now() > end) throw new Error(`server not ready after ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** A bidirectional ModelStreamInfer call: write requests, receive every response message. */
  stream(onMessage: (m: StreamMessage) => void): { write(c: InferCall): void; end(): void; done: Promise<void> } {
    const call = (this.client as unknown as { ModelStreamInfer(md: grpc.Metadata): grpc.ClientDuplexStream<unknown, { error_message: string; infer_response: WireResponse | null }> }).ModelStreamInfer(this.metadata());
    const done = new Promise<void>((resolve, reject) => {
      call.on('data', (m) => onMessage(m.error_message ? { error: m.error_message } : m.infer_response ? { result: decodeResponse(m.infer_response) } : {}));
      call.on('end', () => resolve());
      call.on('error', (e: grpc.ServiceError) => (e.code === grpc.status.CANCELLED ? resolve() : reject(e)));
    });
    return { write: (c) => call.write(OipClient.request(c)), end: () => call.end(), done };
  }

  close(): void {
    this.client.close();
  }
}
