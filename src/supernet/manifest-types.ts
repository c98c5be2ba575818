/**
 * The shape of `manifest.json` (format `slackserve-supernet/1`). Field names are the file's own
 * (snake_case) so the types read like the document a plain onnxruntime user follows.
 */

export const MANIFEST_FORMAT = 'slackserve-supernet/1';

/** One control input's value for a subnet: an int64 tensor of `dims` holding `values`. */
export interface ControlFeed {
  readonly dtype: 'int64';
  readonly dims: readonly number[];
  readonly values: readonly number[];
}

export interface Preprocessing {
  readonly scale: number;
  readonly mean: number;
  readonly std: number;
  readonly formula: string;
}

export interface InputSpec {
  readonly name: string;
  readonly dtype: 'float32';
  readonly layout: 'NCHW';
  /** [-1, C, H, W]; -1 is the batch dimension. */
  readonly shape: readonly number[];
  readonly preprocessing: Preprocessing;
}

export interface OutputSpec {
  readonly name: string;
  readonly dtype: 'float32';
  readonly shape: readonly number[];
}

export interface ControlSpec {
  readonly name: string;
  readonly dtype: 'int64';
  readonly dims: readonly number[];
  readonly doc: string;
}

export interface StageSpec {
  readonly id: string;
  readonly file: string;
  readonly stage: number;
  readonly block: number;
  /** `image` for the first stage, `hidden` for the others. */
  readonly hidden_input: string;
  readonly control_inputs: readonly string[];
  readonly hidden_output: string;
  readonly ramp_output: string;
}

export interface Graphs {
  readonly supernet: { readonly file: string; readonly inputs: readonly string[]; readonly output: string };
  readonly stages: readonly StageSpec[];
  readonly head: {
    readonly file: string;
    readonly hidden_input: string;
    readonly control_inputs: readonly string[];
    readonly output: string;
  };
  readonly staging: string;
  /** The width-branch encoding of the same network (absent in older manifests). */
  readonly branched?: BranchedGraphs;
}

/** Encoding of the supernet's graphs: run-time weight slicing, or constant per-width branches. */
export type Encoding = 'sliced' | 'branched';

export interface BranchedGraphs {
  readonly supernet: { readonly file: string; readonly inputs: readonly string[]; readonly output: string };
  /** stage id -> graph file; inputs and outputs are those of `graphs.stages`. */
  readonly stages: Readonly<Record<string, string>>;
  /** Subnet ids that run their own leaf with SubnetNorm folded into constant weights. */
  readonly folded?: readonly string[];
  readonly doc: string;
}

export interface SubnetChoices {
  readonly resolution: number;
  readonly depth: readonly number[];
  readonly width: readonly number[];
}

/** A ramp's measured quality on the test set: vs labels, and agreement with the final output. */
export interface RampStats {
  readonly stage: string;
  readonly top1: number;
  readonly agreement: number;
}

export interface LatencyStats {
  readonly p50: number;
  readonly p95: number;
}

/** Batch latency measured by `slackserve supernet evaluate` on the machine named in `evaluation`. */
export interface SubnetLatency {
  readonly batch: number;
  readonly static: LatencyStats;
  readonly supernet: LatencyStats;
}

export interface SubnetEntry {
  readonly id: string;
  /** Position in `subnets`; also the value of the `subnet` control (SubnetNorm row). */
  readonly index: number;
  readonly choices: SubnetChoices;
  readonly feeds: Readonly<Record<string, ControlFeed>>;
  readonly macs: number;
  readonly params: number;
  readonly static_graph: string;
  /** Stage ids to run in order for staged execution (then the head). */
  readonly stages: readonly string[];
  readonly top1_torch?: number;
  readonly selection_top1_train_slice?: number;
  /** Measured through onnxruntime on the full test set (absent before `supernet evaluate`). */
  readonly top1?: number;
  readonly ramps?: readonly RampStats[];
  readonly latency_ms?: SubnetLatency;
}

export interface EvaluationInfo {
  readonly onnxruntime: string;
  readonly test_images: number;
  readonly intra_op_threads: number;
  readonly machine: string;
  readonly date: string;
  readonly pareto_rule: string;
}

export interface SampleSpec {
  readonly images: string;
  readonly labels: string;
  readonly expected: string;
  readonly indices_doc: string;
}

export interface LabelledSetSpec {
  readonly images: string;
  readonly labels: string;
  readonly doc: string;
}

export interface Manifest {
  readonly format: typeof MANIFEST_FORMAT;
  readonly name: string;
  readonly description: string;
  readonly dataset: Readonly<Record<string, unknown>> & { readonly classes: readonly string[] };
  readonly input: InputSpec;
  readonly output: OutputSpec;
  readonly controls: readonly ControlSpec[];
  readonly architecture: Readonly<Record<string, unknown>>;
  readonly graphs: Graphs;
  readonly training: Readonly<Record<string, unknown>>;
  readonly subnets: readonly SubnetEntry[];
  /** Served Pareto subnet ids, fastest first; null before `supernet evaluate`. */
  readonly pareto: readonly string[] | null;
  readonly evaluation?: EvaluationInfo;
  readonly sample?: SampleSpec;
  /** A larger labelled set for replay's served-accuracy figures (the whole test set). */
  readonly replay_set?: LabelledSetSpec;
}
