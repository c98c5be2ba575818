/**
 * Tensors on the wire: decoding a request's single FP32 input (gRPC raw or typed contents, REST
 * JSON), and encoding the `logits` and `class` outputs with the `slackserve.*` parameters that say
 * what served the request. Every malformed request becomes an INPUT_INVALID naming the tensor and
 * what was wrong; nothing here trusts a length or a shape it was given.
 *
 * Response form (docs/api.md): over gRPC, a request that sent `raw_input_contents` gets
 * `raw_output_contents` (Triton's clients always send raw and read raw), one that sent typed
 * `contents` gets typed `contents`. REST answers JSON.
 */
import { boundText, SlackserveError } from '../errors.js';
import { BytesTensor, float32Into, float32ToLE, floatTensor, int64ToLE, LITTLE_ENDIAN_HOST } from './fp32.js';
import type { Manifest } from '../supernet/manifest-types.js';
import { CLASSIFICATION_PARAM, classCountOf, classificationStrings, NO_OUTPUT_OPTIONS, type OutputOptions, serializeBytesTensor } from './outputs.js';
import type { OutParam } from './params.js';
import type { WireInferOutputTensor, WireInferParameter, WireLong, WireModelInferRequest, WireModelInferResponse, WireParameters, WireTensorContents } from './proto.js';
import {
  type DecodedTensor,
  type InferAnswer,
  type ModelMetadata,
  OUTPUT_NAMES,
  type OutputName,
  type ServedBy,
} from './types.js';

export { float32FromLE, float32ToLE, float32View, int64ToLE } from './fp32.js';

/** What a request's tensor must look like, from the model's metadata. */
export interface TensorSpec {
  readonly inputName: string;
  /** Per-sample shape, e.g. [1, 28, 28]. */
  readonly sampleShape: readonly number[];
  readonly classes: number;
  readonly maxBatch: number;
  /** Class labels (classification extension), when the model has them. */
  readonly labels?: readonly string[] | undefined;
}

export const PLATFORM = 'slackserve_supernet_onnx';

/** The API's view of a supernet manifest: one FP32 input, `logits` and `class` outputs. */
export function modelMetadataFromManifest(
  manifest: Pick<Manifest, 'name' | 'input' | 'output'> & { readonly dataset?: { readonly classes?: readonly string[] } },
  opts: { readonly maxBatch: number; readonly versions?: readonly string[] },
): ModelMetadata {
  const sample = manifest.input.shape.slice(1);
  const classes = manifest.output.shape[1];
  if (manifest.input.shape[0] !== -1 || sample.some((d) => !Number.isInteger(d) || d < 1))
    throw new SlackserveError('MANIFEST_INVALID', `input shape [${manifest.input.shape.join(',')}] is not [-1, fixed sample dims]`);
  if (classes === undefined || !Number.isInteger(classes) || classes < 1)
    throw new SlackserveError('MANIFEST_INVALID', `output shape [${manifest.output.shape.join(',')}] is not [-1, classes]`);
  return Object.freeze({
    name: manifest.name,
    versions: Object.freeze([...(opts.versions ?? ['1'])]),
    platform: PLATFORM,
    inputs: Object.freeze([{ name: manifest.input.name, datatype: 'FP32', shape: Object.freeze([-1, ...sample]) }]),
    outputs: Object.freeze([
      { name: 'logits', datatype: 'FP32', shape: Object.freeze([-1, classes]) },
      { name: 'class', datatype: 'INT64', shape: Object.freeze([-1]) },
    ]),
    maxBatch: opts.maxBatch,
    ...(manifest.dataset?.classes?.length === classes ? { labels: Object.freeze([...manifest.dataset.classes]) } : {}),
  });
}

const specs = new WeakMap<ModelMetadata, TensorSpec>();

/** The decoding spec of a model, computed once per metadata object (the edges call it per request). */
export function tensorSpecOf(meta: ModelMetadata): TensorSpec {
  let spec = specs.get(meta);
  if (!spec) {
    spec = buildSpec(meta);
    specs.set(meta, spec);
  }
  return spec;
}

function buildSpec(meta: ModelMetadata): TensorSpec {
  const input = meta.inputs[0];
  const logits = meta.outputs.find((o) => o.name === 'logits');
  const classes = logits?.shape[1];
  if (!input || meta.inputs.length !== 1 || input.datatype !== 'FP32' || classes === undefined)
    throw new SlackserveError('INTERNAL', `model ${meta.name}: metadata is not one FP32 input and a [-1, classes] logits output`);
  return { inputName: input.name, sampleShape: input.shape.slice(1), classes, maxBatch: meta.maxBatch, labels: meta.labels };
}

export function invalid(message: string, details: Record<string, unknown> = {}): SlackserveError {
  return new SlackserveError('INPUT_INVALID', message, details);
}

export const fmtShape = (s: readonly (number | string)[]): string => `[${s.join(',')}]`;

export function product(dims: readonly number[]): number {
  let p = 1;
  for (const d of dims) p *= d;
  return p;
}

/** Validates [batch, ...sampleShape] and returns the batch. */
export function checkShape(dims: readonly number[], spec: TensorSpec): number {
  const name = spec.inputName;
  const want = `[batch,${spec.sampleShape.join(',')}]`;
  if (dims.some((d) => d < 0))
    throw invalid(`input '${name}': shape ${fmtShape(dims)} has a negative dimension; a request's shape must be concrete, ${want}`);
  if (dims.length !== spec.sampleShape.length + 1 || spec.sampleShape.some((d, i) => dims[i + 1] !== d))
    throw invalid(`input '${name}': shape ${fmtShape(dims)} does not match ${want}`, { shape: dims });
  const batch = dims[0]!;
  if (batch < 1) throw invalid(`input '${name}': batch dimension is 0 in shape ${fmtShape(dims)}; at least 1 sample is needed`);
  if (batch > spec.maxBatch)
    throw invalid(`input '${name}': batch ${batch} exceeds the maximum batch size ${spec.maxBatch}`, { batch, maxBatch: spec.maxBatch });
  return batch;
}

/** Wire int64 dims (strings with `longs: String`) as numbers. */
function wireDims(shape: readonly WireLong[] | undefined, name: string): number[] {
  return (shape ?? []).map((d) => {
    const n = typeof d === 'number' ? d : /^-?\d{1,16}$/.test(d) ? Number(d) : NaN;
    if (!Number.isSafeInteger(n)) throw invalid(`input '${name}': shape dimension ${String(d)} is not an integer in range`);
    return n;
  });
}

/** Reused for the finite check of misaligned bytes: the check allocates nothing per request. */
let scratch = new Float32Array(0);

/** Rejects NaN and +-Infinity (also values outside the FP32 range, which became Infinity). */
export function checkFinite(bytes: Uint8Array, spec: TensorSpec): void {
  const n = bytes.byteLength >> 2;
  let data: Float32Array;
  if (LITTLE_ENDIAN_HOST && bytes.byteOffset % 4 === 0) data = new Float32Array(bytes.buffer, bytes.byteOffset, n);
  else {
    if (scratch.length < n) scratch = new Float32Array(n);
    data = float32Into(bytes, scratch);
  }
  const sampleSize = product(spec.sampleShape);
  for (let i = 0; i < n; i++) {
    const v = data[i]!;
    if (!Number.isFinite(v)) {
      const sample = Math.floor(i / sampleSize);
      throw invalid(`input '${spec.inputName}': non-finite value ${v} at element ${i} (sample ${sample}); FP32 inputs must be finite`, {
        element: i,
        sample,
      });
    }
  }
}

const TYPED_FIELDS = [
  'bool_contents',
  'int_contents',
  'int64_contents',
  'uint_contents',
  'uint64_contents',
  'fp32_contents',
  'fp64_contents',
  'bytes_contents',
] as const satisfies readonly (keyof WireTensorContents)[];

function nonEmptyTyped(c: WireTensorContents | null | undefined): string[] {
  if (!c) return [];
  return TYPED_FIELDS.filter((f) => (c[f]?.length ?? 0) > 0);
}

/** Requested output names, validated: known, not repeated. Empty request: every output. */
export function checkRequestedOutputs(names: readonly string[]): OutputName[] {
  if (names.length === 0) return [...OUTPUT_NAMES];
  const out: OutputName[] = [];
  for (const n of names) {
    if (!(OUTPUT_NAMES as readonly string[]).includes(n))
      throw invalid(`unknown output '${n}': the outputs are ${OUTPUT_NAMES.map((o) => `'${o}'`).join(', ')}`, { output: n });
    if (out.includes(n as OutputName)) throw invalid(`output '${n}' is requested twice`, { output: n });
    out.push(n as OutputName);
  }
  return out;
}

export interface DecodedGrpcInput {
  readonly tensor: DecodedTensor;
  readonly outputs: readonly OutputName[];
  readonly wantsRaw: boolean;
  /** Classification requests (`classification` on a requested output). */
  readonly options: OutputOptions;
}

/** A gRPC InferParameter's value, whichever member is set. */
function wireParamValue(p: WireInferParameter | undefined): unknown {
  if (!p) return undefined;
  const choice = p.parameter_choice;
  return choice ? p[choice] : (p.int64_param ?? p.uint64_param ?? p.double_param ?? p.string_param ?? p.bool_param);
}

/** Decodes and validates the tensor part of a gRPC ModelInferRequest. */
export function decodeGrpcInput(req: WireModelInferRequest, spec: TensorSpec): DecodedGrpcInput {
  const inputs = req.inputs ?? [];
  const raw = req.raw_input_contents ?? [];
  const name = spec.inputName;
  if (inputs.length === 0) throw invalid(`no input tensor: the model takes 1 input '${name}'`);
  if (inputs.length > 1) {
    const named = inputs.slice(0, 3).map((i) => `'${boundText(i.name ?? '', 64)}'`);
    throw invalid(`${inputs.length} input tensors (${named.join(', ')}${inputs.length > 3 ? ', ...' : ''}): the model takes 1 input '${name}'`);
  }
  if (raw.length !== 0 && raw.length !== inputs.length)
    throw invalid(`raw_input_contents has ${raw.length} entries for ${inputs.length} input: give one per input, in the order of inputs`);
  const input = inputs[0]!;
  if (input.name !== name) throw invalid(`unknown input '${input.name ?? ''}': the model's input is '${name}'`, { input: input.name });
  if (input.datatype !== 'FP32')
    throw invalid(`input '${name}': datatype '${input.datatype ?? ''}' is not supported; the input is FP32`, { datatype: input.datatype });
  const dims = wireDims(input.shape, name);
  const batch = checkShape(dims, spec);
  const count = product(dims);

  let tensor: DecodedTensor;
  const typed = nonEmptyTyped(input.contents);
  const rawBytes = raw[0];
  if (rawBytes !== undefined) {
    if (typed.length > 0)
      throw invalid(`input '${name}': raw_input_contents is given, so contents must be empty (it has ${typed.join(', ')})`);
    if (rawBytes.byteLength !== count * 4)
      throw invalid(
        `input '${name}': raw content has ${rawBytes.byteLength} bytes, expected ${count * 4} (shape ${fmtShape(dims)} x 4 bytes of FP32)`,
        { bytes: rawBytes.byteLength, expected: count * 4 },
      );
    checkFinite(rawBytes, spec);
    tensor = new BytesTensor(rawBytes, batch, dims);
  } else {
    const others = typed.filter((f) => f !== 'fp32_contents');
    if (others.length > 0) throw invalid(`input '${name}': FP32 data belongs in contents.fp32_contents, got ${others.join(', ')}`);
    const values = input.contents?.fp32_contents ?? [];
    if (values.length === 0) throw invalid(`input '${name}': no data: give raw_input_contents[0] or contents.fp32_contents`);
    if (values.length !== count)
      throw invalid(`input '${name}': fp32_contents has ${values.length} values, expected ${count} for shape ${fmtShape(dims)}`, {
        values: values.length,
        expected: count,
      });
    tensor = floatTensor(Float32Array.from(values), batch, dims);
    checkFinite(tensor.bytes, spec);
  }
  const outputs = checkRequestedOutputs((req.outputs ?? []).map((o) => o.name ?? ''));
  const classCounts = new Map<OutputName, number>();
  for (const o of req.outputs ?? []) {
    const k = o.parameters?.[CLASSIFICATION_PARAM];
    if (k !== undefined) classCounts.set(o.name as OutputName, classCountOf(o.name ?? '', wireParamValue(k), spec.classes));
  }
  return { tensor, outputs, wantsRaw: rawBytes !== undefined, options: classCounts.size > 0 ? { classCounts, binary: new Set() } : NO_OUTPUT_OPTIONS };
}

/** The `slackserve.*` response parameters describing what served a request. */
export function servedByParams(s: ServedBy): Array<readonly [string, OutParam]> {
  return [
    ['slackserve.subnet', { kind: 'string', value: s.subnet }],
    ['slackserve.exit', { kind: 'string', value: s.exit }],
    ['slackserve.confidence', { kind: 'double', value: s.confidence }],
    ['slackserve.queue_us', { kind: 'int64', value: s.queueUs }],
    ['slackserve.compute_us', { kind: 'int64', value: s.computeUs }],
    ...(s.serverUs !== undefined ? [['slackserve.server_us', { kind: 'int64', value: s.serverUs }] as const] : []),
    ...(s.outputUs !== undefined ? [['slackserve.output_us', { kind: 'int64', value: s.outputUs }] as const] : []),
    ['slackserve.deadline_met', { kind: 'bool', value: s.deadlineMet }],
    ['slackserve.downgraded', { kind: 'bool', value: s.downgraded }],
    ['slackserve.early', { kind: 'bool', value: s.early ?? false }],
    ['slackserve.deadline_answer', { kind: 'bool', value: s.deadlineAnswer ?? false }],
  ];
}

/**
 * The same parameters as `servedByParams`, built straight as the gRPC response's InferParameter map
 * (what `toWireParams(servedByParams(s))` gives, same keys in the same order): one object and its
 * ten values per answer instead of the tuples, value objects and copies in between. It is built
 * for every gRPC answer, so it is on the request path's allocation budget.
 */
export function servedByWireParams(s: ServedBy): WireParameters {
  const out: WireParameters = {
    'slackserve.subnet': { string_param: s.subnet },
    'slackserve.exit': { string_param: s.exit },
    'slackserve.confidence': { double_param: s.confidence },
    'slackserve.queue_us': { int64_param: Math.round(s.queueUs) },
    'slackserve.compute_us': { int64_param: Math.round(s.computeUs) },
  };
  if (s.serverUs !== undefined) out['slackserve.server_us'] = { int64_param: Math.round(s.serverUs) };
  if (s.outputUs !== undefined) out['slackserve.output_us'] = { int64_param: Math.round(s.outputUs) };
  out['slackserve.deadline_met'] = { bool_param: s.deadlineMet };
  out['slackserve.downgraded'] = { bool_param: s.downgraded };
  out['slackserve.early'] = { bool_param: s.early ?? false };
  out['slackserve.deadline_answer'] = { bool_param: s.deadlineAnswer ?? false };
  return out;
}

/** argmax per row. */
export function argmaxRows(logits: Float32Array, classes: number): Int32Array {
  const batch = logits.length / classes;
  const out = new Int32Array(batch);
  for (let b = 0; b < batch; b++) {
    let best = 0;
    for (let c = 1; c < classes; c++) if (logits[b * classes + c]! > logits[b * classes + best]!) best = c;
    out[b] = best;
  }
  return out;
}

/** Checks a backend's answer against the request and fills in `classes`. */
export function checkedAnswer(answer: InferAnswer, batch: number, classes: number): { logits: Float32Array; classes: ArrayLike<number> } {
  if (!(answer.logits instanceof Float32Array) || answer.logits.length !== batch * classes)
    throw new SlackserveError('INTERNAL', `backend answered ${answer.logits?.length} logits for a batch of ${batch} x ${classes} classes`);
  const cls = answer.classes ?? argmaxRows(answer.logits, classes);
  if (cls.length !== batch) throw new SlackserveError('INTERNAL', `backend answered ${cls.length} classes for a batch of ${batch}`);
  for (let i = 0; i < cls.length; i++) {
    const c = cls[i]!;
    if (!Number.isInteger(c) || c < 0 || c >= classes) throw new SlackserveError('INTERNAL', `backend answered class ${c} of ${classes}`);
  }
  return { logits: answer.logits, classes: cls };
}

export interface EncodeArgs {
  readonly model: string;
  readonly version: string;
  readonly id: string;
  readonly batch: number;
  readonly classes: number;
  readonly outputs: readonly OutputName[];
  readonly answer: InferAnswer;
  /** Classification (and, over HTTP, binary) requests; none when absent. */
  readonly options?: OutputOptions;
  /** Class labels for classification strings. */
  readonly labels?: readonly string[] | undefined;
}

/** The classification strings of an output asked for them ([batch, k]), or undefined. */
export function classified(args: EncodeArgs, name: OutputName, logits: Float32Array): { k: number; strings: string[] } | undefined {
  const k = args.options?.classCounts.get(name);
  if (k === undefined) return undefined;
  return { k, strings: classificationStrings(logits, args.batch, args.classes, k, args.labels) };
}

/** What the gRPC encoders take (encodeGrpcResponse, encodeAnswerFramed): raw output bytes or typed contents. */
export type GrpcEncodeArgs = EncodeArgs & { readonly raw: boolean };

/** A gRPC ModelInferResponse: raw_output_contents when `raw`, else typed contents. */
export function encodeGrpcResponse(args: GrpcEncodeArgs): WireModelInferResponse {
  const { logits, classes } = checkedAnswer(args.answer, args.batch, args.classes);
  const outputs: WireInferOutputTensor[] = [];
  const rawOut: Buffer[] = [];
  for (const name of args.outputs) {
    const cls = classified(args, name, logits);
    if (cls) {
      outputs.push({
        name,
        datatype: 'BYTES',
        shape: [args.batch, cls.k],
        parameters: {},
        contents: args.raw ? null : { bytes_contents: cls.strings.map((x) => Buffer.from(x, 'utf8')) },
      });
      if (args.raw) rawOut.push(serializeBytesTensor(cls.strings));
    } else if (name === 'logits') {
      outputs.push({
        name,
        datatype: 'FP32',
        shape: [args.batch, args.classes],
        parameters: {},
        contents: args.raw ? null : { fp32_contents: Array.from(logits) },
      });
      if (args.raw) rawOut.push(float32ToLE(logits));
    } else {
      outputs.push({
        name,
        datatype: 'INT64',
        shape: [args.batch],
        parameters: {},
        contents: args.raw ? null : { int64_contents: Array.from(classes) },
      });
      if (args.raw) rawOut.push(int64ToLE(classes));
    }
  }
  return {
    model_name: args.model,
    model_version: args.version,
    id: args.id,
    parameters: servedByWireParams(args.answer.servedBy),
    outputs,
    raw_output_contents: rawOut,
  };
}
