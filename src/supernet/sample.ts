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
