import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { SlackserveError } from '../../src/errors.js';
import { Catalogue } from '../../src/supernet/catalogue.js';
import { validateManifest } from '../../src/supernet/validate.js';
import { copiedSupernet, mutatedSupernet, readManifestJson, SUPERNET_DIR } from '../helpers.js';

const cleanups: (() => void)[] = [];
afterEach(() => cleanups.splice(0).forEach((c) => c()));

function loadMutated(mutate: (m: any) => void): Catalogue {
  const t = mutatedSupernet(mutate);
  cleanups.push(t.cleanup);
  return Catalogue.load(t.dir);
}

function expectError(fn: () => unknown, code: string, message: RegExp): void {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(SlackserveError);
    expect((e as SlackserveError).code).toBe(code);
    expect((e as SlackserveError).message).toMatch(message);
    return;
  }
  expect.unreachable(`expected ${code}`);
}

describe('the committed manifest', () => {
  it('loads and exposes the catalogue', () => {
    const cat = Catalogue.load(SUPERNET_DIR);
    expect(cat.subnets.length).toBeGreaterThanOrEqual(10);
    expect(cat.sampleShape).toEqual([1, 28, 28]);
    expect(cat.numClasses).toBe(10);
    const first = cat.subnets[0]!;
    expect(cat.subnet(first.id)).toBe(first);
    expect(cat.stageChain(first.id).map((s) => s.id)).toEqual(first.stages);
    expect(cat.pareto.map((s) => s.id)).toEqual(cat.manifest.pareto);
  });

  it('meets the trade-off the issue requires (Pareto set >= 10, >= 5 points, >= 8x latency, largest >= 92.5%)', () => {
    const cat = Catalogue.load(SUPERNET_DIR);
    const p = cat.pareto;
    const accs = p.map((s) => s.top1 ?? NaN);
    const lats = p.map((s) => s.latency_ms?.static.p50 ?? NaN);
    expect(p.length).toBeGreaterThanOrEqual(10);
    expect(Math.max(...accs) - Math.min(...accs)).toBeGreaterThanOrEqual(0.05);
    expect(Math.max(...lats) / Math.min(...lats)).toBeGreaterThanOrEqual(8);
    const largest = [...cat.subnets].sort((a, b) => b.macs - a.macs)[0]!;
    expect(largest.top1).toBeGreaterThanOrEqual(0.925);
    // fastest first, and each more accurate than the one before
    for (let i = 1; i < p.length; i++) {
      expect(lats[i]!).toBeGreaterThanOrEqual(lats[i - 1]!);
      expect(accs[i]!).toBeGreaterThan(accs[i - 1]!);
    }
  });
});

describe('manifest validation rejects broken manifests with a clear message', () => {
  it('missing manifest, invalid JSON', () => {
    const t = copiedSupernet();
    cleanups.push(t.cleanup);
    writeFileSync(join(t.dir, 'manifest.json'), '{"format": ');
    expectError(() => Catalogue.load(t.dir), 'MANIFEST_INVALID', /not valid JSON/);
    rmSync(join(t.dir, 'manifest.json'));
    expectError(() => Catalogue.load(t.dir), 'MANIFEST_MISSING', /no manifest.json/);
  });

  it('a missing graph file', () => {
    const t = copiedSupernet();
    cleanups.push(t.cleanup);
    const victim = (readManifestJson() as any).subnets[2].static_graph as string;
    rmSync(join(t.dir, victim));
    expectError(() => Catalogue.load(t.dir), 'GRAPH_MISSING', new RegExp(`${victim.replace('.', '\\.')}.*missing`));
  });

  const cases: [string, (m: any) => void, RegExp][] = [
    ['wrong format', (m) => (m.format = 'other/2'), /format: expected "slackserve-supernet\/1"/],
    ['input shape of the wrong rank', (m) => (m.input.shape = [-1, 28, 28]), /input\.shape: expected 4 integers, got 3/],
    ['fixed batch dimension', (m) => (m.input.shape[0] = 16), /input\.shape\[0\]: the batch dimension must be -1/],
    ['output shape not matching the classes', (m) => (m.output.shape = [-1, 9]), /output\.shape: expected \[-1, 10\]/],
    ['non-positive std', (m) => (m.input.preprocessing.std = 0), /input\.preprocessing\.std/],
    ['feed of the wrong shape', (m) => (m.subnets[1].feeds.width.values = [8, 16]), /subnets\[1\]\.feeds\.width\.values: expected 3 integers, got 2/],
    ['feed inconsistent with the choices', (m) => (m.subnets[0].choices.resolution = 99), /subnets\[0\]\.feeds\.resolution\.values: expected \[99,99\]/],
    ['wrong SubnetNorm index', (m) => (m.subnets[3].feeds.subnet.values = [0]), /subnets\[3\]\.feeds\.subnet\.values/],
    ['index out of order', (m) => (m.subnets[2].index = 5), /subnets\[2\]\.index: 5 is outside \[2, 2\]/],
    ['duplicate subnet id', (m) => (m.subnets[1].id = m.subnets[0].id), /subnets\[1\]\.id: duplicate subnet id/],
    ['stage chain naming an unknown stage', (m) => (m.subnets[0].stages[0] = 's9b9'), /subnets\[0\]\.stages\[0\]: unknown stage "s9b9"/],
    ['stage chain not matching the depth', (m) => m.subnets[0].stages.pop(), /subnets\[0\]\.stages: expected \d+ stages/],
    ['unknown control in a stage', (m) => (m.graphs.stages[0].control_inputs = ['bogus']), /graphs\.stages\[0\]\.control_inputs\[0\]: unknown control "bogus"/],
    ['accuracy out of range', (m) => (m.subnets[0].top1 = 1.5), /subnets\[0\]\.top1: 1\.5 is outside \[0, 1\]/],
    ['Pareto set naming an unknown subnet', (m) => (m.pareto = ['nope']), /pareto\[0\]: unknown subnet id "nope"/],
    ['no subnets', (m) => (m.subnets = []), /subnets: expected at least 1 entries/],
    ['branched encoding missing a stage', (m) => delete m.graphs.branched.stages.s1b2, /graphs\.branched\.stages\.s1b2: expected a non-empty string/],
    ['folded leaf for an unknown subnet', (m) => (m.graphs.branched.folded = ['r0_d000_w0-0-0']), /graphs\.branched\.folded\[0\]: unknown subnet id "r0_d000_w0-0-0"/],
    ['branched encoding with other inputs', (m) => (m.graphs.branched.supernet.inputs = ['image']), /graphs\.branched\.supernet: expected the same inputs and output/],
    ['a field of the wrong type', (m) => (m.subnets[0].macs = 'many'), /subnets\[0\]\.macs: expected a number, got "many"/],
  ];
  it.each(cases)('%s', (_name, mutate, message) => {
    expectError(() => loadMutated(mutate), 'MANIFEST_INVALID', message);
  });

  it('validateManifest accepts the committed manifest as is', () => {
    expect(() => validateManifest(readManifestJson())).not.toThrow();
  });
});

describe('encodings', () => {
  it('a manifest without the branched encoding names the way out', () => {
    const cat = loadMutated((m) => delete m.graphs.branched);
    expect(cat.encodingFiles('sliced').whole).toBe('supernet.onnx');
    expectError(() => cat.encodingFiles('branched'), 'GRAPH_MISSING', /no branched encoding.*export_branched\.py or set encoding to "sliced"/);
  });
});

describe('catalogue lookups', () => {
  it('an unknown subnet id is a typed error naming the id', () => {
    const cat = Catalogue.load(SUPERNET_DIR);
    expectError(() => cat.subnet('r99_d999_w1-2-3'), 'SUBNET_UNKNOWN', /unknown subnet "r99_d999_w1-2-3"/);
    expect(cat.has('r99_d999_w1-2-3')).toBe(false);
  });
});
