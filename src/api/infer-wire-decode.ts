/**
 * The ModelInferRequest reader behind `decodeModelInferRequest` (infer-wire.ts has the contract,
 * the output shape and where it differs from protobufjs). One function per message type; each
 * reads until the end of its own length-delimited span, counts what it collects against the
 * request's WireLimits before collecting it, and throws WireDecodeFailure, which the entry point
 * catches and returns.
 */
import { endianness } from 'node:os';
import type { WireLimits } from './infer-wire.js';
import { invalid, limitExceeded, longToString, PbReader } from './pb-reader.js';
import type {
  WireInferInputTensor,
  WireInferParameter,
  WireModelInferRequest,
  WireParameters,
  WireRequestedOutput,
  WireTensorContents,
} from './proto.js';

/** The reader plus the request-wide budgets. */
export class RequestReader extends PbReader {
  contentsLeft: number;
  bytesContentsLeft: number;
  constructor(
    buf: Buffer,
    readonly lim: WireLimits,
  ) {
    super(buf, lim.maxUnknownFields);
    this.contentsLeft = lim.maxContentsElements;
    this.bytesContentsLeft = lim.maxBytesContents;
  }

  /** Charges `n` typed values to the contents budget. */
  take(n: number): void {
    if ((this.contentsLeft -= n) < 0)
      throw limitExceeded('too many typed contents values', 'maxContentsElements', this.lim.maxContentsElements);
  }

  name(end: number, what: string): string {
    return this.string(end, this.lim.maxNameBytes, what, 'maxNameBytes');
  }
}

/** A known field number with another wire type is an error; unknown fields are skipped. */
function skipOrReject(r: PbReader, tag: number, end: number, knownUpTo: number, message: string): void {
  const field = tag >>> 3;
  if (field <= knownUpTo) throw invalid(`${message} field ${field} has wire type ${tag & 7}, not its own`);
  r.skip(tag, end);
}

export function readRequest(r: RequestReader): WireModelInferRequest {
  const lim = r.lim;
  const end = r.buf.length;
  let model_name = '';
  let model_version = '';
  let id = '';
  const parameters: WireParameters = {};
  const inputs: WireInferInputTensor[] = [];
  const outputs: WireRequestedOutput[] = [];
  const raw: Buffer[] = [];
  let nParams = 0;
  while (r.pos < end) {
    const tag = r.tag(end);
    switch (tag) {
      case 0x0a:
        model_name = r.name(end, 'model_name');
        break;
      case 0x12:
        model_version = r.name(end, 'model_version');
        break;
      case 0x1a:
        id = r.name(end, 'id');
        break;
      case 0x22:
        if (++nParams > lim.maxRequestParameters)
          throw limitExceeded('too many request parameters', 'maxRequestParameters', lim.maxRequestParameters);
        readParamEntry(r, end, parameters);
        break;
      case 0x2a:
        if (inputs.length >= lim.maxInputs) throw limitExceeded('too many inputs', 'maxInputs', lim.maxInputs);
        inputs.push(readInput(r, r.lengthEnd(end, 'inputs')));
        break;
      case 0x32:
        if (outputs.length >= lim.maxOutputs) throw limitExceeded('too many requested outputs', 'maxOutputs', lim.maxOutputs);
        outputs.push(readOutput(r, r.lengthEnd(end, 'outputs')));
        break;
      case 0x3a:
        if (raw.length >= lim.maxInputs) throw limitExceeded('too many raw_input_contents entries', 'maxInputs', lim.maxInputs);
        raw.push(r.bytes(end, 'raw_input_contents'));
        break;
      default:
        skipOrReject(r, tag, end, 7, 'ModelInferRequest');
    }
  }
  return { model_name, model_version, id, parameters, inputs, outputs, raw_input_contents: raw };
}

/** One `map<string, InferParameter>` entry (a nested message: key = 1, value = 2) into `target`. */
function readParamEntry(r: RequestReader, end: number, target: WireParameters): void {
  const e = r.lengthEnd(end, 'parameters entry');
  let key = '';
  let value: WireInferParameter | undefined;
  while (r.pos < e) {
    const tag = r.tag(e);
    if (tag === 0x0a) key = r.name(e, 'parameter name');
    else if (tag === 0x12) value = readParam(r, r.lengthEnd(e, 'parameter value'));
    else skipOrReject(r, tag, e, 2, 'parameters entry');
  }
  // a plain assignment of '__proto__' would replace the prototype instead of adding the key
  if (key === '__proto__') Object.defineProperty(target, key, { value: value ?? {}, enumerable: true, writable: true, configurable: true });
  else target[key] = value ?? {};
}

function readParam(r: RequestReader, e: number): WireInferParameter {
  let choice = 0;
  let bool = false;
  let str = '';
  let dbl = 0;
  let int = '';
  while (r.pos < e) {
    const tag = r.tag(e);
    switch (tag) {
      case 0x08:
        r.varint(e);
        bool = (r.lo | r.hi) !== 0;
        choice = 1;
        break;
      case 0x10:
        r.varint(e);
        int = longString(r, true);
        choice = 2;
        break;
      case 0x1a:
        str = r.string(e, r.lim.maxStringParamBytes, 'string_param', 'maxStringParamBytes');
        choice = 3;
        break;
      case 0x21:
        dbl = r.float64(e);
        choice = 4;
        break;
      case 0x28:
        r.varint(e);
        int = longString(r, false);
        choice = 5;
        break;
      default:
        skipOrReject(r, tag, e, 5, 'InferParameter');
    }
  }
  switch (choice) {
    case 1:
      return { bool_param: bool, parameter_choice: 'bool_param' };
    case 2:
      return { int64_param: int, parameter_choice: 'int64_param' };
    case 3:
      return { string_param: str, parameter_choice: 'string_param' };
    case 4:
      return { double_param: dbl, parameter_choice: 'double_param' };
    case 5:
      return { uint64_param: int, parameter_choice: 'uint64_param' };
    default:
      return {};
  }
}

function longString(r: PbReader, signed: boolean): string {
  return longToString(r.lo, r.hi, signed);
}

function readInput(r: RequestReader, e: number): WireInferInputTensor {
  const lim = r.lim;
  let name = '';
  let datatype = '';
  const shape: string[] = [];
  const parameters: WireParameters = {};
  let contents: WireTensorContents | null = null;
  let nParams = 0;
  while (r.pos < e) {
    const tag = r.tag(e);
    switch (tag) {
      case 0x0a:
        name = r.name(e, 'input name');
        break;
      case 0x12:
        datatype = r.name(e, 'input datatype');
        break;
      case 0x18: // shape, unpacked
        if (shape.length >= lim.maxShapeDims) throw tooManyDims(lim);
        r.varint(e);
        shape.push(longString(r, true));
        break;
      case 0x1a: {
        const pe = r.lengthEnd(e, 'shape');
        while (r.pos < pe) {
          if (shape.length >= lim.maxShapeDims) throw tooManyDims(lim);
          r.varint(pe);
          shape.push(longString(r, true));
        }
        break;
      }
      case 0x22:
        if (++nParams > lim.maxTensorParameters) throw tooManyTensorParams(lim);
        readParamEntry(r, e, parameters);
        break;
      case 0x2a:
        contents = readContents(r, r.lengthEnd(e, 'contents'));
        break;
      default:
        skipOrReject(r, tag, e, 5, 'InferInputTensor');
    }
  }
  return { name, datatype, shape, parameters, contents };
}

const tooManyDims = (lim: WireLimits) => limitExceeded('too many shape dimensions', 'maxShapeDims', lim.maxShapeDims);
const tooManyTensorParams = (lim: WireLimits) => limitExceeded('too many tensor parameters', 'maxTensorParameters', lim.maxTensorParameters);

function readOutput(r: RequestReader, e: number): WireRequestedOutput {
  let name = '';
  const parameters: WireParameters = {};
  let nParams = 0;
  while (r.pos < e) {
    const tag = r.tag(e);
    if (tag === 0x0a) name = r.name(e, 'output name');
    else if (tag === 0x12) {
      if (++nParams > r.lim.maxTensorParameters) throw tooManyTensorParams(r.lim);
      readParamEntry(r, e, parameters);
    } else skipOrReject(r, tag, e, 2, 'InferRequestedOutputTensor');
  }
  return { name, parameters };
}

/** Varint-encoded repeated values, packed (one length-delimited run) or not (one per tag). */
function readVarints(r: RequestReader, tag: number, e: number, push: (r: PbReader) => void): void {
  if ((tag & 7) === 2) {
    const pe = r.lengthEnd(e, 'packed contents');
    while (r.pos < pe) {
      r.take(1);
      r.varint(pe);
      push(r);
    }
  } else {
    r.take(1);
    r.varint(e);
    push(r);
  }
}

/** A packed run of fixed-width values: counted and charged before any is read. */
function packedFixed(r: RequestReader, e: number, width: number, what: string): number {
  const pe = r.lengthEnd(e, what);
  const bytes = pe - r.pos;
  if (bytes % width !== 0) throw invalid(`${what}: packed length ${bytes} is not a multiple of ${width}`);
  r.take(bytes / width);
  return pe;
}

const LITTLE_ENDIAN_HOST = endianness() === 'LE';

/*
 * Packed floats: one memcpy into an aligned typed array, then plain element reads, cost about a
 * third of a readFloatLE call per value (the wire offset is rarely aligned, so a view is not
 * possible); growing the array once instead of push by push halves the cost of long runs again.
 */
function pushFloat32s(buf: Buffer, start: number, end: number, out: number[]): void {
  const n = (end - start) / 4;
  if (LITTLE_ENDIAN_HOST && n >= 8) {
    const a = new Float32Array(n);
    new Uint8Array(a.buffer).set(buf.subarray(start, end));
    const base = out.length;
    out.length = base + n;
    for (let i = 0; i < n; i++) out[base + i] = a[i]!;
  } else {
    for (let p = start; p < end; p += 4) out.push(buf.readFloatLE(p));
  }
}

function pushFloat64s(buf: Buffer, start: number, end: number, out: number[]): void {
  const n = (end - start) / 8;
  if (LITTLE_ENDIAN_HOST && n >= 8) {
    const a = new Float64Array(n);
    new Uint8Array(a.buffer).set(buf.subarray(start, end));
    const base = out.length;
    out.length = base + n;
    for (let i = 0; i < n; i++) out[base + i] = a[i]!;
  } else {
    for (let p = start; p < end; p += 8) out.push(buf.readDoubleLE(p));
  }
}

function readContents(r: RequestReader, e: number): WireTensorContents {
  const bool_contents: boolean[] = [];
  const int_contents: number[] = [];
  const int64_contents: string[] = [];
  const uint_contents: number[] = [];
  const uint64_contents: string[] = [];
  const fp32_contents: number[] = [];
  const fp64_contents: number[] = [];
  const bytes_contents: Buffer[] = [];
  while (r.pos < e) {
    const tag = r.tag(e);
    switch (tag) {
      case 0x08:
      case 0x0a:
        readVarints(r, tag, e, (x) => bool_contents.push((x.lo | x.hi) !== 0));
        break;
      case 0x10:
      case 0x12:
        readVarints(r, tag, e, (x) => int_contents.push(x.lo | 0));
        break;
      case 0x18:
      case 0x1a:
        readVarints(r, tag, e, (x) => int64_contents.push(longString(x, true)));
        break;
      case 0x20:
      case 0x22:
        readVarints(r, tag, e, (x) => uint_contents.push(x.lo));
        break;
      case 0x28:
      case 0x2a:
        readVarints(r, tag, e, (x) => uint64_contents.push(longString(x, false)));
        break;
      case 0x35:
        r.take(1);
        fp32_contents.push(r.float32(e));
        break;
      case 0x32: {
        const pe = packedFixed(r, e, 4, 'fp32_contents');
        pushFloat32s(r.buf, r.pos, pe, fp32_contents);
        r.pos = pe;
        break;
      }
      case 0x39:
        r.take(1);
        fp64_contents.push(r.float64(e));
        break;
      case 0x3a: {
        const pe = packedFixed(r, e, 8, 'fp64_contents');
        pushFloat64s(r.buf, r.pos, pe, fp64_contents);
        r.pos = pe;
        break;
      }
      case 0x42:
        if (--r.bytesContentsLeft < 0) throw limitExceeded('too many bytes_contents entries', 'maxBytesContents', r.lim.maxBytesContents);
        bytes_contents.push(r.bytes(e, 'bytes_contents'));
        break;
      default:
        skipOrReject(r, tag, e, 8, 'InferTensorContents');
    }
  }
  return { bool_contents, int_contents, int64_contents, uint_contents, uint64_contents, fp32_contents, fp64_contents, bytes_contents };
}

