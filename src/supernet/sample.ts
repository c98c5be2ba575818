/** The supernet's committed labelled images (manifest `sample` and `replay_set`), raw and preprocessed. */
import { SlackserveError } from '../errors.js';
import type { Catalogue } from './catalogue.js';
import { preprocess, readLabelledImages, type LabelledImages } from './dataset.js';

export interface LoadedImages {
  readonly sample: LabelledImages;
  readonly x: Float32Array;
}

/** Images and labels from two idx files named relative to the supernet directory, preprocessed. */
function loadLabelled(cat: Catalogue, files: { readonly images: string; readonly labels: string }): LoadedImages {
  const sample = readLabelledImages(cat.path(files.images), cat.path(files.labels));
  return { sample, x: preprocess(sample, cat.manifest.input.preprocessing) };
}

/** The committed test sample the tests use (256 images with PyTorch's expected predictions). */
export function loadTestSample(cat: Catalogue): LoadedImages {
  const s = cat.manifest.sample;
  if (!s) throw new SlackserveError('DATASET_MISSING', `${cat.dir}/manifest.json names no test sample`);
  return loadLabelled(cat, s);
}

/**
 * The labelled images replay sends: the manifest's `replay_set` (the whole test set, on which the
 * subnets' top-1 was measured) when it names one, else the test sample. Served accuracy over a
 * few hundred images is off by a point or two per subnet (sampling error), enough to hide a
 * 3-point difference between policies.
 */
export function loadReplaySet(cat: Catalogue): LoadedImages {
  const s = cat.manifest.replay_set;
  return s ? loadLabelled(cat, s) : loadTestSample(cat);
}
