/**
 * Validation of a parsed manifest.json. Every message names the JSON path that is wrong and what
 * was expected, so a broken manifest is fixed from the message alone.
 */
import { SlackserveError } from '../errors.js';
import { MANIFEST_FORMAT, type Manifest } from './manifest-types.js';

type Json = unknown;

class Checker {
  constructor(private readonly file: string) {}

  fail(path: string, why: string): never {
    throw new SlackserveError('MANIFEST_INVALID', `${this.file}: ${path}: ${why}`, { path });
  }

  obj(v: Json, path: string): Record<string, Json> {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) this.fail(path, `expected an object, got ${kind(v)}`);
    return v as Record<string, Json>;
  }

  arr(v: Json, path: string, minLength = 0): Json[] {
    if (!Array.isArray(v)) this.fail(path, `expected an array, got ${kind(v)}`);
    if (v.length < minLength) this.fail(path, `expected at least ${minLength} entries, got ${v.length}`);
    return v;
  }

  str(v: Json, path: string): string {
    if (typeof v !== 'string' || v.length === 0) this.fail(path, `expected a non-empty string, got ${kind(v)}`);
    return v;
  }

  num(v: Json, path: string, min = -Infinity, max = Infinity): number {
    if (typeof v !== 'number' || !Number.isFinite(v)) this.fail(path, `expected a number, got ${kind(v)}`);
    if (v < min || v > max) this.fail(path, `${v} is outside [${min}, ${max}]`);
    return v;
  }

  int(v: Json, path: string, min = -Infinity, max = Infinity): number {
    const n = this.num(v, path, min, max);
    if (!Number.isInteger(n)) this.fail(path, `expected an integer, got ${n}`);
    return n;
  }

  ints(v: Json, path: string, length?: number, min = -Infinity): number[] {
    const a = this.arr(v, path);
    if (length !== undefined && a.length !== length)
      this.fail(path, `expected ${length} integers, got ${a.length}`);
    return a.map((x, i) => this.int(x, `${path}[${i}]`, min));
  }

  literal<T extends string>(v: Json, path: string, allowed: readonly T[]): T {
    if (typeof v !== 'string' || !allowed.includes(v as T))
      this.fail(path, `expected ${allowed.map((a) => JSON.stringify(a)).join(' or ')}, got ${JSON.stringify(v)}`);
    return v as T;
  }
}

function kind(v: Json): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'string') return `"${v.length > 40 ? v.slice(0, 40) + '…' : v}"`;
  if (typeof v === 'object') return 'an object';
  return `${typeof v} ${String(v)}`;
}

const product = (dims: readonly number[]): number => dims.reduce((a, b) => a * b, 1);

/**
 * Checks structure and internal consistency (ids, indexes, feeds vs choices, stage references).
 * File existence is checked by the loader, which knows the directory.
 */
export function validateManifest(raw: Json, file = 'manifest.json'): Manifest {
  const c = new Checker(file);
  const m = c.obj(raw, '$');
  c.literal(m.format, 'format', [MANIFEST_FORMAT]);
  c.str(m.name, 'name');

  const dataset = c.obj(m.dataset, 'dataset');
  const classes = c.arr(dataset.classes, 'dataset.classes', 2).map((x, i) => c.str(x, `dataset.classes[${i}]`));

  const input = c.obj(m.input, 'input');
  c.str(input.name, 'input.name');
  c.literal(input.dtype, 'input.dtype', ['float32']);
  c.literal(input.layout, 'input.layout', ['NCHW']);
  const shape = c.ints(input.shape, 'input.shape', 4);
  if (shape[0] !== -1) c.fail('input.shape[0]', `the batch dimension must be -1, got ${shape[0]}`);
  shape.slice(1).forEach((d, i) => d > 0 || c.fail(`input.shape[${i + 1}]`, `expected a positive size, got ${d}`));
  const pre = c.obj(input.preprocessing, 'input.preprocessing');
  c.num(pre.scale, 'input.preprocessing.scale');
  c.num(pre.mean, 'input.preprocessing.mean');
  c.num(pre.std, 'input.preprocessing.std', Number.MIN_VALUE);

  const output = c.obj(m.output, 'output');
  const outName = c.str(output.name, 'output.name');
  const outShape = c.ints(output.shape, 'output.shape', 2);
  if (outShape[0] !== -1 || outShape[1] !== classes.length)
    c.fail('output.shape', `expected [-1, ${classes.length}] (one logit per class), got ${JSON.stringify(outShape)}`);

  const controls = new Map<string, number[]>();
  c.arr(m.controls, 'controls', 1).forEach((x, i) => {
    const ctl = c.obj(x, `controls[${i}]`);
    const name = c.str(ctl.name, `controls[${i}].name`);
    c.literal(ctl.dtype, `controls[${i}].dtype`, ['int64']);
    if (controls.has(name)) c.fail(`controls[${i}].name`, `duplicate control "${name}"`);
    controls.set(name, c.ints(ctl.dims, `controls[${i}].dims`, undefined, 1));
  });

  const graphs = c.obj(m.graphs, 'graphs');
  const sup = c.obj(graphs.supernet, 'graphs.supernet');
  c.str(sup.file, 'graphs.supernet.file');
  if (c.str(sup.output, 'graphs.supernet.output') !== outName)
    c.fail('graphs.supernet.output', `expected "${outName}" (output.name), got "${String(sup.output)}"`);
  c.arr(sup.inputs, 'graphs.supernet.inputs').forEach((x, i) => {
    const n = c.str(x, `graphs.supernet.inputs[${i}]`);
    if (n !== input.name && !controls.has(n)) c.fail(`graphs.supernet.inputs[${i}]`, `unknown input "${n}"`);
  });
  const stageIds = new Set<string>();
  let foldedIds: string[] = [];
  c.arr(graphs.stages, 'graphs.stages', 1).forEach((x, i) => {
    const p = `graphs.stages[${i}]`;
    const st = c.obj(x, p);
    const id = c.str(st.id, `${p}.id`);
    if (stageIds.has(id)) c.fail(`${p}.id`, `duplicate stage id "${id}"`);
    stageIds.add(id);
    c.str(st.file, `${p}.file`);
    c.int(st.stage, `${p}.stage`, 0);
    c.int(st.block, `${p}.block`, 0);
    for (const k of ['hidden_input', 'hidden_output', 'ramp_output']) c.str(st[k], `${p}.${k}`);
    c.arr(st.control_inputs, `${p}.control_inputs`).forEach((n, j) => {
      if (!controls.has(c.str(n, `${p}.control_inputs[${j}]`)))
        c.fail(`${p}.control_inputs[${j}]`, `unknown control "${String(n)}"`);
    });
  });
  if (graphs.branched !== undefined) {
    const b = c.obj(graphs.branched, 'graphs.branched');
    const bs = c.obj(b.supernet, 'graphs.branched.supernet');
    c.str(bs.file, 'graphs.branched.supernet.file');
    if (JSON.stringify(bs.inputs) !== JSON.stringify(sup.inputs) || bs.output !== sup.output)
      c.fail('graphs.branched.supernet', 'expected the same inputs and output as graphs.supernet');
    const files = c.obj(b.stages, 'graphs.branched.stages');
    for (const id of stageIds) c.str(files[id], `graphs.branched.stages.${id}`);
    for (const id of Object.keys(files)) if (!stageIds.has(id)) c.fail(`graphs.branched.stages.${id}`, `unknown stage "${id}"`);
    if (b.folded !== undefined) foldedIds = c.arr(b.folded, 'graphs.branched.folded').map((x, i) => c.str(x, `graphs.branched.folded[${i}]`));
  }
  const head = c.obj(graphs.head, 'graphs.head');
  c.str(head.file, 'graphs.head.file');
  c.str(head.hidden_input, 'graphs.head.hidden_input');
  c.str(head.output, 'graphs.head.output');

  const ids = new Set<string>();
  c.arr(m.subnets, 'subnets', 1).forEach((x, i) => {
    const p = `subnets[${i}]`;
    const s = c.obj(x, p);
    const id = c.str(s.id, `${p}.id`);
    if (ids.has(id)) c.fail(`${p}.id`, `duplicate subnet id "${id}"`);
    ids.add(id);
    c.int(s.index, `${p}.index`, i, i);
    const ch = c.obj(s.choices, `${p}.choices`);
    const res = c.int(ch.resolution, `${p}.choices.resolution`, 1);
    const depth = c.ints(ch.depth, `${p}.choices.depth`, undefined, 1);
    const width = c.ints(ch.width, `${p}.choices.width`, depth.length, 1);
    const feeds = c.obj(s.feeds, `${p}.feeds`);
    for (const [name, dims] of controls) {
      const f = c.obj(feeds[name], `${p}.feeds.${name}`);
      c.literal(f.dtype, `${p}.feeds.${name}.dtype`, ['int64']);
      const fd = c.ints(f.dims, `${p}.feeds.${name}.dims`);
      if (fd.join(',') !== dims.join(','))
        c.fail(`${p}.feeds.${name}.dims`, `expected ${JSON.stringify(dims)} (controls), got ${JSON.stringify(fd)}`);
      c.ints(f.values, `${p}.feeds.${name}.values`, product(dims));
    }
    const values = (name: string): number[] => (feeds[name] as { values: number[] } | undefined)?.values ?? [];
    const expect = (name: string, want: number[]): void => {
      if (controls.has(name) && values(name).join(',') !== want.join(','))
        c.fail(`${p}.feeds.${name}.values`, `expected ${JSON.stringify(want)} to match choices, got ${JSON.stringify(values(name))}`);
    };
    expect('subnet', [i]);
    expect('resolution', [res, res]);
    expect('depth', depth);
    expect('width', width);
    c.int(s.macs, `${p}.macs`, 1);
    c.int(s.params, `${p}.params`, 1);
    c.str(s.static_graph, `${p}.static_graph`);
    const chain = c.arr(s.stages, `${p}.stages`, 1).map((n, j) => c.str(n, `${p}.stages[${j}]`));
    chain.forEach((n, j) => stageIds.has(n) || c.fail(`${p}.stages[${j}]`, `unknown stage "${n}"`));
    const blocks = depth.reduce((a, b) => a + b, 0);
    if (chain.length !== blocks)
      c.fail(`${p}.stages`, `expected ${blocks} stages (sum of depth ${JSON.stringify(depth)}), got ${chain.length}`);
    if (s.top1 !== undefined) c.num(s.top1, `${p}.top1`, 0, 1);
    if (s.ramps !== undefined) {
      const ramps = c.arr(s.ramps, `${p}.ramps`);
      if (ramps.length !== chain.length)
        c.fail(`${p}.ramps`, `expected one entry per stage (${chain.length}), got ${ramps.length}`);
      ramps.forEach((r, j) => {
        const ro = c.obj(r, `${p}.ramps[${j}]`);
        if (ro.stage !== chain[j]) c.fail(`${p}.ramps[${j}].stage`, `expected "${chain[j]}", got ${kind(ro.stage)}`);
        c.num(ro.top1, `${p}.ramps[${j}].top1`, 0, 1);
        c.num(ro.agreement, `${p}.ramps[${j}].agreement`, 0, 1);
      });
    }
    if (s.latency_ms !== undefined) {
      const l = c.obj(s.latency_ms, `${p}.latency_ms`);
      c.int(l.batch, `${p}.latency_ms.batch`, 1);
      for (const enc of ['static', 'supernet']) {
        const e = c.obj(l[enc], `${p}.latency_ms.${enc}`);
        c.num(e.p50, `${p}.latency_ms.${enc}.p50`, 0);
        c.num(e.p95, `${p}.latency_ms.${enc}.p95`, 0);
      }
    }
  });

  foldedIds.forEach((id, i) => ids.has(id) || c.fail(`graphs.branched.folded[${i}]`, `unknown subnet id "${id}"`));
  if (m.pareto !== null && m.pareto !== undefined) {
    c.arr(m.pareto, 'pareto', 1).forEach((x, i) => {
      if (!ids.has(c.str(x, `pareto[${i}]`))) c.fail(`pareto[${i}]`, `unknown subnet id "${String(x)}"`);
    });
  }
  return m as unknown as Manifest;
}
