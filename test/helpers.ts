/** Shared test helpers: where the committed supernet lives and throwaway copies of it. */
import { cpSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Catalogue } from '../src/supernet/catalogue.js';
import type { LabelledImages } from '../src/supernet/dataset.js';
import { loadTestSample } from '../src/supernet/sample.js';

/** The committed supernet the tests run against (override to test a freshly exported one). */
export const SUPERNET_DIR = resolve(process.env.SLACKSERVE_TEST_SUPERNET ?? 'supernets/fmnist-resnet');

export function readManifestJson(dir = SUPERNET_DIR): Record<string, unknown> {
  return JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as Record<string, unknown>;
}

/**
 * A temporary supernet directory whose graphs are symlinks to the committed ones and whose
 * manifest.json is `mutate(copy of the committed manifest)`. Returns the directory and a cleanup.
 */
export function mutatedSupernet(mutate: (m: any) => void): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'slackserve-manifest-'));
  for (const entry of readdirSync(SUPERNET_DIR)) {
    if (entry === 'manifest.json') continue;
    symlinkSync(join(SUPERNET_DIR, entry), join(dir, entry));
  }
  const m = readManifestJson();
  mutate(m);
  writeFileSync(join(dir, 'manifest.json'), JSON.stringify(m));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** A real (not symlinked) copy, for tests that delete files. */
export function copiedSupernet(): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'slackserve-copy-'));
  cpSync(SUPERNET_DIR, dir, { recursive: true, filter: (src) => !src.includes('checkpoint') });
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Deterministic PRNG (mulberry32) so "random" test orders are reproducible. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function shuffle<T>(items: readonly T[], random: () => number): T[] {
  const a = [...items];
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [a[i], a[j]] = [a[j] as T, a[i] as T];
  }
  return a;
}

/** Largest absolute elementwise difference of two equally long arrays. */
export function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} != ${b.length}`);
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs((a[i] as number) - (b[i] as number)));
  return d;
}

/** The committed test sample of a supernet, raw and preprocessed as its manifest says. */
export const loadSample = (cat: Catalogue): { sample: LabelledImages; x: Float32Array } => loadTestSample(cat);

/**
 * The dashboard's cumulative outcome count from its event stream (`/dashboard/events`, one JSON
 * snapshot per event), read until it reaches `atLeast` or 40 chunks have come.
 */
export async function dashboardTotal(events: Response, atLeast: number): Promise<number> {
  const reader = events.body!.getReader();
  let text = '';
  let total = 0;
  for (let k = 0; k < 40 && total < atLeast; k++) {
    const { value } = await reader.read();
    text += new TextDecoder().decode(value);
    const last = text.trim().split('\n\n').pop() ?? '';
    if (last.startsWith('data: ')) total = (JSON.parse(last.slice(6)) as { cumulative: { total: number } }).cumulative.total;
  }
  return total;
}
