/**
 * The supernet's graphs as onnxruntime sessions: the SubNetAct whole graph, the stage chain with
 * its head, and (on demand) the per-subnet static graphs used as references. Runs on the calling
 * thread; the worker-thread executor builds on this.
 */
import type { Catalogue } from '../supernet/catalogue.js';
import type { Encoding, SubnetEntry } from '../supernet/manifest-types.js';
import { checkSignature, controlTensor, DEFAULT_SESSION_SETTINGS, imageTensor, openSession, type ort, type SessionSettings } from './session.js';

export interface StagedResult {
  /** Final logits, batch x classes. */
  readonly logits: Float32Array;
  /** One entry per stage run, in order: that stage's ramp logits. */
  readonly ramps: readonly { readonly stage: string; readonly logits: Float32Array }[];
}

type Feeds = Record<string, ort.Tensor>;

export class SupernetGraphs {
  private readonly statics = new Map<string, ort.InferenceSession>();
  private readonly controls = new Map<string, Readonly<Record<string, ort.Tensor>>>();

  private constructor(
    readonly catalogue: Catalogue,
    readonly settings: SessionSettings,
    private readonly whole: ort.InferenceSession,
    private readonly stages: ReadonlyMap<string, ort.InferenceSession>,
    private readonly head: ort.InferenceSession,
  ) {}

  /** Opens the whole graph, the stage graphs and the head in the given encoding. */
  static async open(catalogue: Catalogue, settings: SessionSettings = DEFAULT_SESSION_SETTINGS, encoding: Encoding = 'sliced'): Promise<SupernetGraphs> {
    const g = catalogue.manifest.graphs;
    const files = catalogue.encodingFiles(encoding);
    const whole = await openSession(catalogue.path(files.whole), settings);
    checkSignature(whole, files.whole, g.supernet.inputs, [g.supernet.output]);
    const stages = new Map<string, ort.InferenceSession>();
    for (const st of g.stages) {
      const file = files.stages.get(st.id) as string;
      const s = await openSession(catalogue.path(file), settings);
      checkSignature(s, file, [st.hidden_input, ...st.control_inputs], [st.hidden_output, st.ramp_output]);
      stages.set(st.id, s);
    }
    const head = await openSession(catalogue.path(g.head.file), settings);
    checkSignature(head, g.head.file, [g.head.hidden_input, ...g.head.control_inputs], [g.head.output]);
    return new SupernetGraphs(catalogue, settings, whole, stages, head);
  }

  /** Control tensors of a subnet, built once (they never change). */
  private controlsOf(subnet: SubnetEntry): Readonly<Record<string, ort.Tensor>> {
    let c = this.controls.get(subnet.id);
    if (!c) {
      c = Object.fromEntries(Object.entries(subnet.feeds).map(([k, f]) => [k, controlTensor(f)]));
      this.controls.set(subnet.id, c);
    }
    return c;
  }

  private pick(subnet: SubnetEntry, names: readonly string[], base: Feeds): Feeds {
    const c = this.controlsOf(subnet);
    for (const n of names) base[n] = c[n] as ort.Tensor;
    return base;
  }

  /** Whole-graph (SubNetAct) inference: one session run for the batch. */
  async runWhole(images: Float32Array, subnetId: string): Promise<Float32Array> {
    const subnet = this.catalogue.subnet(subnetId);
    const g = this.catalogue.manifest.graphs.supernet;
    const feeds = this.pick(subnet, g.inputs.filter((n) => n !== this.catalogue.manifest.input.name), {
      [this.catalogue.manifest.input.name]: imageTensor(images, this.catalogue.sampleShape),
    });
    const out = await this.whole.run(feeds);
    return (out[g.output] as ort.Tensor).data as Float32Array;
  }

  /**
   * Staged inference: one run per active block, each yielding its ramp logits (`onStage` is
   * called as soon as a stage finishes, for early exits), then the head.
   */
  async runStaged(
    images: Float32Array,
    subnetId: string,
    onStage?: (stage: string, rampLogits: Float32Array) => void,
  ): Promise<StagedResult> {
    let input: ort.Tensor | Float32Array = images;
    let hidden: ort.Tensor | null = null;
    const ramps: { stage: string; logits: Float32Array }[] = [];
    for (const st of this.catalogue.stageChain(subnetId)) {
      const out = await this.runStage(input, subnetId, st.id);
      input = hidden = out.hidden;
      ramps.push({ stage: st.id, logits: out.ramp });
      onStage?.(st.id, out.ramp);
    }
    // a subnet has at least one stage (manifest validation)
    return { logits: await this.runHead(hidden as ort.Tensor, subnetId), ramps };
  }

  /** One stage graph: `input` is the image batch (first stage) or the previous hidden state. */
  async runStage(input: ort.Tensor | Float32Array, subnetId: string, stageId: string): Promise<{ hidden: ort.Tensor; ramp: Float32Array }> {
    const subnet = this.catalogue.subnet(subnetId);
    const st = this.catalogue.stage(stageId);
    const x = input instanceof Float32Array ? imageTensor(input, this.catalogue.sampleShape) : input;
    const session = this.stages.get(st.id) as ort.InferenceSession;
    const out = await session.run(this.pick(subnet, st.control_inputs, { [st.hidden_input]: x }));
    return { hidden: out[st.hidden_output] as ort.Tensor, ramp: (out[st.ramp_output] as ort.Tensor).data as Float32Array };
  }

  /** The head graph: final logits from the last stage's hidden state. */
  async runHead(hidden: ort.Tensor, subnetId: string): Promise<Float32Array> {
    const subnet = this.catalogue.subnet(subnetId);
    const h = this.catalogue.manifest.graphs.head;
    const out = await this.head.run(this.pick(subnet, h.control_inputs, { [h.hidden_input]: hidden }));
    return (out[h.output] as ort.Tensor).data as Float32Array;
  }

  /** The subnet's static reference graph (opened on first use and kept). */
  async staticSession(subnetId: string): Promise<ort.InferenceSession> {
    let s = this.statics.get(subnetId);
    if (!s) {
      const file = this.catalogue.subnet(subnetId).static_graph;
      s = await openSession(this.catalogue.path(file), this.settings);
      checkSignature(s, file, [this.catalogue.manifest.input.name], [this.catalogue.manifest.output.name]);
      this.statics.set(subnetId, s);
    }
    return s;
  }

  async runStatic(images: Float32Array, subnetId: string): Promise<Float32Array> {
    const s = await this.staticSession(subnetId);
    const m = this.catalogue.manifest;
    const out = await s.run({ [m.input.name]: imageTensor(images, this.catalogue.sampleShape) });
    return (out[m.output.name] as ort.Tensor).data as Float32Array;
  }

  async close(): Promise<void> {
    const all = [this.whole, this.head, ...this.stages.values(), ...this.statics.values()];
    this.statics.clear();
    await Promise.all(all.map((s) => s.release()));
  }
}

/** Row-wise argmax of a batch x classes matrix. */
export function argmax(logits: Float32Array, classes: number): Int32Array {
  const n = logits.length / classes;
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    let best = 0;
    let bestV = -Infinity;
    for (let k = 0; k < classes; k++) {
      const v = logits[i * classes + k] as number;
      if (v > bestV) {
        bestV = v;
        best = k;
      }
    }
    out[i] = best;
  }
  return out;
}
