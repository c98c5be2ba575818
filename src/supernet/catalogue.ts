/**
 * The supernet catalogue: a validated manifest plus the directory its graphs live in. This is
 * what the rest of the code asks "which subnets exist, what do they cost, which graph runs them".
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { SlackserveError } from '../errors.js';
import type { Encoding, Manifest, StageSpec, SubnetEntry } from './manifest-types.js';
import { validateManifest } from './validate.js';

export class Catalogue {
  private readonly byId: ReadonlyMap<string, SubnetEntry>;
  private readonly stagesById: ReadonlyMap<string, StageSpec>;

  private constructor(
    readonly dir: string,
    readonly manifest: Manifest,
  ) {
    this.byId = new Map(manifest.subnets.map((s) => [s.id, s]));
    this.stagesById = new Map(manifest.graphs.stages.map((s) => [s.id, s]));
  }

  /** Reads `dir/manifest.json`, validates it and checks that every graph it names exists. */
  static load(dir: string): Catalogue {
    const abs = resolve(dir);
    const file = join(abs, 'manifest.json');
    if (!existsSync(file))
      throw new SlackserveError('MANIFEST_MISSING', `no manifest.json in ${abs} (is --supernet the supernet directory?)`, {
        file,
      });
    let raw: unknown;
    try {
      raw = JSON.parse(readFileSync(file, 'utf8'));
    } catch (err) {
      throw new SlackserveError('MANIFEST_INVALID', `${file}: not valid JSON: ${(err as Error).message}`);
    }
    return Catalogue.fromManifest(abs, validateManifest(raw, file));
  }

  /** Wraps an already validated manifest; checks the graph files in `dir`. */
  static fromManifest(dir: string, manifest: Manifest): Catalogue {
    const cat = new Catalogue(resolve(dir), manifest);
    for (const rel of cat.graphFiles()) {
      const path = cat.path(rel);
      if (!existsSync(path))
        throw new SlackserveError('GRAPH_MISSING', `graph file ${rel} named by manifest.json is missing (${path})`, {
          file: path,
        });
    }
    return cat;
  }

  /** Every ONNX file the manifest names, relative to the directory. */
  graphFiles(): string[] {
    const g = this.manifest.graphs;
    const branched = g.branched ? [g.branched.supernet.file, ...Object.values(g.branched.stages)] : [];
    return [g.supernet.file, g.head.file, ...g.stages.map((s) => s.file), ...branched, ...this.manifest.subnets.map((s) => s.static_graph)];
  }

  path(rel: string): string {
    return join(this.dir, rel);
  }

  get subnets(): readonly SubnetEntry[] {
    return this.manifest.subnets;
  }

  /** The served Pareto set, fastest first (all subnets if the manifest has not been evaluated). */
  get pareto(): readonly SubnetEntry[] {
    const ids = this.manifest.pareto;
    return ids === null ? this.manifest.subnets : ids.map((id) => this.subnet(id));
  }

  has(id: string): boolean {
    return this.byId.has(id);
  }

  subnet(id: string): SubnetEntry {
    const s = this.byId.get(id);
    if (!s) {
      const near = [...this.byId.keys()].filter((k) => k.startsWith(id.split('_')[0] ?? '')).slice(0, 5);
      throw new SlackserveError(
        'SUBNET_UNKNOWN',
        `unknown subnet "${id}" in supernet ${this.manifest.name}` +
          (near.length ? ` (similar: ${near.join(', ')})` : ` (${this.byId.size} subnets; see manifest.json)`),
        { id },
      );
    }
    return s;
  }

  stage(id: string): StageSpec {
    const s = this.stagesById.get(id);
    if (!s) throw new SlackserveError('MANIFEST_INVALID', `unknown stage "${id}"`, { id });
    return s;
  }

  /** Graph files of an encoding: the whole graph and stage id -> stage graph file. */
  encodingFiles(encoding: Encoding): { whole: string; stages: ReadonlyMap<string, string> } {
    const g = this.manifest.graphs;
    if (encoding === 'sliced') return { whole: g.supernet.file, stages: new Map(g.stages.map((s) => [s.id, s.file])) };
    if (!g.branched)
      throw new SlackserveError(
        'GRAPH_MISSING',
        `supernet ${this.manifest.name} has no branched encoding (graphs.branched in manifest.json); ` +
          'write it with supernets/train/export_branched.py or set encoding to "sliced"',
      );
    return { whole: g.branched.supernet.file, stages: new Map(Object.entries(g.branched.stages)) };
  }

  /** The stage graphs a subnet runs, in order (the head follows the last). */
  stageChain(id: string): StageSpec[] {
    return this.subnet(id).stages.map((s) => this.stage(s));
  }

  /** Input geometry without the batch dimension, e.g. [1, 28, 28]. */
  get sampleShape(): readonly number[] {
    return this.manifest.input.shape.slice(1);
  }

  get sampleSize(): number {
    return this.sampleShape.reduce((a, b) => a * b, 1);
  }

  get numClasses(): number {
    return this.manifest.dataset.classes.length;
  }
}
