/**
 * The replay's requests encoded once, before the schedule starts. A replay sends few distinct
 * requests: one parameter set per distinct (SLO, min accuracy, priority, class) of the trace and
 * one input tensor per distinct starting image. Each piece is encoded once with protobufjs (the
 * client's serializer) into one shared buffer; a sender then only copies model name + id +
 * parameters + inputs into the call's bytes (wire.ts), no object building or serializing per call.
 */
import { OipClient, toWireParams, type ParamValue } from '../client/oip-client.js';
import { assembleWithId, type Span } from '../client/wire.js';
import type { ReplayRequest } from './types.js';

/** The request parameters a trace row becomes (the insertion order is the wire order). */
export function replayParams(r: Pick<ReplayRequest, 'slo_ms' | 'class' | 'min_accuracy' | 'priority'>): Record<string, ParamValue> {
  const params: Record<string, ParamValue> = { 'slackserve.latency_budget_ms': r.slo_ms, 'slackserve.slo_class': r.class };
  if (r.min_accuracy !== null) params['slackserve.min_accuracy'] = r.min_accuracy;
  if (r.priority !== 0) params.priority = r.priority;
  return params;
}

const comboKey = (r: ReplayRequest): string => `${r.slo_ms}|${r.min_accuracy}|${r.priority}|${r.class}`;

/** Pre-encoded pieces, in one buffer that worker threads share. */
export interface EncodedPieces {
  readonly bytes: SharedArrayBuffer;
  /** model_name. */
  readonly head: Span;
  /** parameters, per combo. */
  readonly params: readonly Span[];
  /** inputs + raw_input_contents, per starting image (null: not used by this replay). */
  readonly bodies: readonly (Span | null)[];
}

export interface EncodeArgs {
  readonly model: string;
  readonly inputName: string;
  /** n x sample floats. */
  readonly images: Float32Array;
  readonly sampleShape: readonly number[];
  readonly imagesPerRequest: number;
  readonly requests: readonly ReplayRequest[];
}

/** Encodes every distinct piece the requests use; `combo[k]` is request k's parameter set. */
export function preEncode(a: EncodeArgs): { pieces: EncodedPieces; combo: Uint32Array } {
  const sample = a.sampleShape.reduce((x, y) => x * y, 1);
  const k = a.imagesPerRequest;
  const combos = new Map<string, number>();
  const comboBytes: Buffer[] = [];
  const combo = new Uint32Array(a.requests.length);
  const nImages = Math.floor(a.images.length / sample);
  const bodyBytes: (Buffer | null)[] = new Array<Buffer | null>(Math.max(0, nImages - k + 1)).fill(null);
  a.requests.forEach((r, j) => {
    const key = comboKey(r);
    let c = combos.get(key);
    if (c === undefined) {
      c = comboBytes.length;
      combos.set(key, c);
      comboBytes.push(OipClient.encodeRequestFields({ parameters: toWireParams(replayParams(r)) }));
    }
    combo[j] = c;
    if (!bodyBytes[r.image]) {
      const images = a.images.subarray(r.image * sample, (r.image + k) * sample);
      const whole = OipClient.request({ model: '', images, shape: [k, ...a.sampleShape], inputName: a.inputName }) as { inputs: unknown; raw_input_contents: unknown };
      bodyBytes[r.image] = OipClient.encodeRequestFields({ inputs: whole.inputs, raw_input_contents: whole.raw_input_contents });
    }
  });
  const head = OipClient.encodeRequestFields({ model_name: a.model });
  const all = [head, ...comboBytes, ...bodyBytes.filter((b): b is Buffer => b !== null)];
  const bytes = new SharedArrayBuffer(all.reduce((n, b) => n + b.length, 0));
  const view = new Uint8Array(bytes);
  let pos = 0;
  const put = (b: Buffer): Span => {
    view.set(b, pos);
    pos += b.length;
    return { offset: pos - b.length, length: b.length };
  };
  const pieces: EncodedPieces = { bytes, head: put(head), params: comboBytes.map(put), bodies: bodyBytes.map((b) => (b ? put(b) : null)) };
  return { pieces, combo };
}

/** Views of the pieces (no copies), for a sender thread. */
export class RequestBytes {
  private readonly head: Uint8Array;
  private readonly params: Uint8Array[];
  private readonly bodies: (Uint8Array | null)[];

  constructor(p: EncodedPieces) {
    const at = (s: Span): Uint8Array => new Uint8Array(p.bytes, s.offset, s.length);
    this.head = at(p.head);
    this.params = p.params.map(at);
    this.bodies = p.bodies.map((s) => (s ? at(s) : null));
  }

  /**
   * The whole ModelInferRequest for parameter set `combo`, starting image `image`, id `id`
   * (`framed`: with the 5-byte gRPC message prefix in front, for the h2 transport).
   */
  get(combo: number, image: number, id: string, framed = false): Buffer {
    const params = this.params[combo];
    const body = this.bodies[image];
    if (!params || !body) throw new Error(`no pre-encoded request for parameter set ${combo}, image ${image}`);
    return assembleWithId(this.head, id, [params, body], framed);
  }
}
