/**
 * Tensors on the REST edge: decoding a `POST /v2/models/{m}/infer` JSON body (with the binary tensor
 * data extension's bytes when the request used it) and encoding the JSON response, with the
 * binary section for outputs asked in binary. Shares validation with the gRPC decoders (tensors.ts).
 */
import { BytesTensor, float32ToLE, floatTensor, int64ToLE } from './fp32.js';
import { CLASSIFICATION_PARAM, classCountOf, NO_OUTPUT_OPTIONS, type OutputOptions, serializeBytesTensor } from './outputs.js';
import { fromJsonParams, type Params, toJsonParams } from './params.js';
import { checkedAnswer, checkFinite, checkRequestedOutputs, checkShape, classified, type EncodeArgs, fmtShape, invalid, product, servedByParams, type TensorSpec } from './tensors.js';
import type { DecodedTensor, OutputName } from './types.js';

function jsonKind(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return typeof v === 'object' ? 'an object' : typeof v;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** REST `data`: flat, or nested exactly as `shape`, into FP32. */
function flattenJsonData(data: unknown, dims: readonly number[], name: string): Float32Array {
  if (!Array.isArray(data)) throw invalid(`input '${name}': data must be an array of numbers, got ${jsonKind(data)}`);
  const count = product(dims);
  const out = new Float32Array(count);
  const put = (v: unknown, i: number): void => {
    if (typeof v !== 'number') throw invalid(`input '${name}': element ${i} of data is ${jsonKind(v)}, not a number`);
    out[i] = v;
  };
  if (data.length === 0 || !Array.isArray(data[0])) {
    if (data.length !== count)
      throw invalid(`input '${name}': data has ${data.length} values, expected ${count} for shape ${fmtShape(dims)}`, {
        values: data.length,
        expected: count,
      });
    for (let i = 0; i < count; i++) put(data[i], i);
    return out;
  }
  let next = 0;
  const walk = (arr: unknown, depth: number, path: string): void => {
    if (!Array.isArray(arr)) throw invalid(`input '${name}': data${path} is ${jsonKind(arr)}; nesting does not match shape ${fmtShape(dims)}`);
    if (arr.length !== dims[depth])
      throw invalid(`input '${name}': data${path} has ${arr.length} entries, shape ${fmtShape(dims)} needs ${dims[depth]} at depth ${depth}`);
    if (depth === dims.length - 1) {
      for (const v of arr) put(v, next++);
      return;
    }
    arr.forEach((sub, i) => walk(sub, depth + 1, `${path}[${i}]`));
  };
  walk(data, 0, '');
  return out;
}

function jsonDims(shape: unknown, name: string): number[] {
  if (!Array.isArray(shape)) throw invalid(`input '${name}': shape must be an array of integers, got ${jsonKind(shape)}`);
  return shape.map((d) => {
    if (typeof d !== 'number' || !Number.isSafeInteger(d)) throw invalid(`input '${name}': shape dimension ${JSON.stringify(d)} is not an integer`);
    return d;
  });
}

export interface DecodedRestInfer {
  readonly id: string;
  readonly params: Params;
  readonly tensor: DecodedTensor;
  readonly outputs: readonly OutputName[];
  /** Classification and binary-output requests. */
  readonly options: OutputOptions;
}

/** The input's bytes from the binary section (binary tensor data extension), checked. */
function binaryInput(size: unknown, binary: Uint8Array | undefined, count: number, dims: readonly number[], name: string): Uint8Array {
  if (binary === undefined)
    throw invalid(`input '${name}': binary_data_size is given but the request has no binary section: with the binary tensor data extension, send the header "Inference-Header-Content-Length: <JSON bytes>" and the tensor bytes after the JSON`);
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) throw invalid(`input '${name}': binary_data_size must be a non-negative integer, got ${JSON.stringify(size)}`);
  if (size !== count * 4)
    throw invalid(`input '${name}': binary_data_size is ${size} bytes, expected ${count * 4} (shape ${fmtShape(dims)} x 4 bytes of FP32)`, { bytes: size, expected: count * 4 });
  if (binary.byteLength !== size)
    throw invalid(`input '${name}': the binary section holds ${binary.byteLength} bytes after the JSON header, binary_data_size says ${size}`, { bytes: binary.byteLength, expected: size });
  return binary;
}

/**
 * Decodes and validates a REST `POST /v2/models/{m}/infer` body (already JSON-parsed). `binary`:
 * the bytes after the JSON header when the request used the binary tensor data extension.
 */
export function decodeRestInfer(body: unknown, spec: TensorSpec, binary?: Uint8Array): DecodedRestInfer {
  if (!isObject(body)) throw invalid(`request body must be a JSON object, got ${jsonKind(body)}`);
  const id = body['id'];
  if (id !== undefined && typeof id !== 'string') throw invalid(`id must be a string, got ${jsonKind(id)}`);
  const params = fromJsonParams(body['parameters']);
  const inputs = body['inputs'];
  const name = spec.inputName;
  if (!Array.isArray(inputs)) throw invalid(`inputs must be an array, got ${jsonKind(inputs)}`);
  if (inputs.length !== 1)
    throw invalid(inputs.length === 0 ? `no input tensor: the model takes 1 input '${name}'` : `${inputs.length} input tensors: the model takes 1 input '${name}'`);
  const input: unknown = inputs[0];
  if (!isObject(input)) throw invalid(`inputs[0] must be an object, got ${jsonKind(input)}`);
  if (input['name'] !== name) throw invalid(`unknown input ${JSON.stringify(input['name'])}: the model's input is '${name}'`);
  if (input['datatype'] !== 'FP32')
    throw invalid(`input '${name}': datatype ${JSON.stringify(input['datatype'])} is not supported; the input is FP32`);
  const tp = input['parameters'];
  const dims = jsonDims(input['shape'], name);
  const batch = checkShape(dims, spec);
  let tensor: DecodedTensor;
  if (isObject(tp) && tp['binary_data_size'] !== undefined) {
    const bytes = binaryInput(tp['binary_data_size'], binary, product(dims), dims, name);
    if (input['data'] !== undefined) throw invalid(`input '${name}': give either data or binary_data_size, not both`);
    tensor = new BytesTensor(bytes, batch, dims);
  } else {
    if (binary !== undefined && binary.byteLength > 0)
      throw invalid(`input '${name}': the request has ${binary.byteLength} bytes after its JSON header but no input names binary_data_size`);
    tensor = floatTensor(flattenJsonData(input['data'], dims, name), batch, dims);
  }
  checkFinite(tensor.bytes, spec);

  const rp = body['parameters'];
  const allBinary = isObject(rp) && rp['binary_data_output'] === true;
  const outs = body['outputs'];
  const names: string[] = [];
  const classCounts = new Map<OutputName, number>();
  const binaryOut = new Set<OutputName>();
  if (outs !== undefined) {
    if (!Array.isArray(outs)) throw invalid(`outputs must be an array, got ${jsonKind(outs)}`);
    for (const [i, o] of outs.entries()) {
      if (!isObject(o) || typeof o['name'] !== 'string') throw invalid(`outputs[${i}] must be an object with a string name`);
      const n = o['name'];
      names.push(n);
      const op = o['parameters'];
      if (op !== undefined && !isObject(op)) throw invalid(`output '${n}': parameters must be a JSON object`);
      const bin = op?.['binary_data'];
      if (bin !== undefined && typeof bin !== 'boolean') throw invalid(`output '${n}': binary_data must be true or false`);
      if (bin ?? allBinary) binaryOut.add(n as OutputName);
      if (op?.[CLASSIFICATION_PARAM] !== undefined) classCounts.set(n as OutputName, classCountOf(n, op[CLASSIFICATION_PARAM], spec.classes));
    }
  }
  const outputs = checkRequestedOutputs(names);
  if (names.length === 0 && allBinary) for (const n of outputs) binaryOut.add(n);
  const options: OutputOptions = classCounts.size > 0 || binaryOut.size > 0 ? { classCounts, binary: binaryOut } : NO_OUTPUT_OPTIONS;
  return { id: id ?? '', params, tensor, outputs, options };
}

export interface RestOutputTensor {
  readonly name: string;
  readonly datatype: string;
  readonly shape: number[];
  /** Absent for an output sent in the binary section. */
  readonly data?: number[] | string[];
  readonly parameters?: { readonly binary_data_size: number };
}

export interface RestInferResponse {
  readonly model_name: string;
  readonly model_version: string;
  readonly id: string;
  readonly parameters: Record<string, boolean | number | string>;
  readonly outputs: RestOutputTensor[];
}

/** The REST JSON response (KServe v2 shape): flat `data` arrays. */
export function encodeRestResponse(args: EncodeArgs): RestInferResponse {
  return encodeRestInfer(args).body;
}

/**
 * The REST response: the JSON body and, for outputs asked in binary (binary tensor data
 * extension), their bytes in output order; those outputs carry `binary_data_size` and no `data`.
 */
export function encodeRestInfer(args: EncodeArgs): { body: RestInferResponse; binary: Buffer[] } {
  const { logits, classes } = checkedAnswer(args.answer, args.batch, args.classes);
  const binary: Buffer[] = [];
  const outputs = args.outputs.map((name): RestOutputTensor => {
    const cls = classified(args, name, logits);
    const t =
      cls !== undefined
        ? { datatype: 'BYTES', shape: [args.batch, cls.k], data: cls.strings, bytes: () => serializeBytesTensor(cls.strings) }
        : name === 'logits'
          ? { datatype: 'FP32', shape: [args.batch, args.classes], data: Array.from(logits), bytes: () => float32ToLE(logits) }
          : { datatype: 'INT64', shape: [args.batch], data: Array.from(classes), bytes: () => int64ToLE(classes) };
    if (!args.options?.binary.has(name)) return { name, datatype: t.datatype, shape: t.shape, data: t.data };
    const b = t.bytes();
    binary.push(b);
    return { name, datatype: t.datatype, shape: t.shape, parameters: { binary_data_size: b.length } };
  });
  return {
    body: { model_name: args.model, model_version: args.version, id: args.id, parameters: toJsonParams(servedByParams(args.answer.servedBy)), outputs },
    binary,
  };
}
