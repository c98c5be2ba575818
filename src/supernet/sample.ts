/** The supernet's committed labelled test sample (manifest `sample`), raw and preprocessed. */
import { SlackserveError } from '../errors.js';
import type { Catalogue } from './catalogue.js';
import { preprocess, readLabelledImages, type LabelledImages } from './dataset.js';

export function loadTestSample(cat: Catalogue): { sample: LabelledImages; x: Float32Array } {
  const s = cat.manifest.sample;
  if (!s) throw new SlackserveError('DATASET_MISSING', `${cat.dir}/manifest.json names no test sample`);
  const sample = readLabelledImages(cat.path(s.images), cat.path(s.labels));
  return { sample, x: preprocess(sample, cat.manifest.input.preprocessing) };
}

/**
 * The labelled images replay sends: the manifest's `replay_set` (the whole test set, on which the
 * subnets' top-1 was measured) when it names one, else the test sample. Served accuracy over a
 * few hundred images is off by a point or two per subnet (sampling error), enough to hide a
 * 3-point difference between policies.
 */
export function loadReplaySet(cat: Catalogue): { sample: LabelledImages; x: Float32Array } {
  const s = cat.manifest.replay_set;
  if (!s) return loadTestSample(cat);
  const sample = readLabelledImages(cat.path(s.images), cat.path(s.labels));
  return { sample, x: preprocess(sample, cat.manifest.input.preprocessing) };
}
