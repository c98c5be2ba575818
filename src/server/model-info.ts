/**
 * The frontend's read-only model information: the one model (and version) this server serves, and
 * what Triton's information endpoints say about it (ServerMetadata, ModelMetadata, ModelConfig,
 * ModelStatistics, the repository index). None of it needs the queue; the Frontend delegates its
 * InferenceBackend methods here. Owns the model's metadata and ModelConfig (fixed at construction)
 * and the `ModelStats` its statistics are read from (the frontend's outcomes write them).
 */
import { buildModelConfig, type ModelConfigExtras, type TritonModelConfig } from '../api/model-config.js';
import { modelMetadataFromManifest } from '../api/tensors.js';
import type { ModelMetadata, RepositoryModel, ServerMetadata } from '../api/types.js';
import { SlackserveError } from '../errors.js';
import type { Metrics } from '../metrics/metrics.js';
import { ModelStats, type ModelStatisticsView } from '../metrics/model-stats.js';
import type { Catalogue } from '../supernet/catalogue.js';
import { SERVER_EXTENSIONS } from './frontend-info.js';

export interface ModelInfoOptions {
  readonly catalogue: Catalogue;
  readonly maxBatch: number;
  readonly version: string;
  readonly metrics?: Metrics;
  /** What Triton's ModelConfig says beyond the metadata (default: no instances, no parameters). */
  readonly modelConfig?: ModelConfigExtras;
}

export class ModelInfo {
  readonly meta: ModelMetadata;
  readonly stats: ModelStats;
  private readonly config: TritonModelConfig;

  constructor(private readonly o: ModelInfoOptions) {
    this.meta = modelMetadataFromManifest(o.catalogue.manifest, { maxBatch: o.maxBatch, versions: [o.version] });
    this.stats = o.metrics?.modelStats ?? new ModelStats(undefined);
    this.stats.declare(this.meta.name, o.version);
    this.config = buildModelConfig(this.meta, o.modelConfig ?? { instances: 0, maxQueueSize: 0, defaultTimeoutUs: 0, parameters: {} });
  }

  /** Whether `name` and `version` ('' for any) are the model served here. */
  serves(name: string, version: string): boolean {
    return name === this.meta.name && (version === '' || version === this.o.version);
  }

  serverMetadata(): ServerMetadata {
    return { name: 'slackserve', version: '0.1.0', extensions: [...SERVER_EXTENSIONS] };
  }

  modelMetadata(name: string, version: string): ModelMetadata {
    if (name !== this.meta.name) throw new SlackserveError('MODEL_UNKNOWN', `unknown model "${name}" (this server serves "${this.meta.name}")`);
    if (version !== '' && version !== this.o.version) throw new SlackserveError('MODEL_UNKNOWN', `model "${name}" has no version "${version}" (have: ${this.o.version})`);
    return this.meta;
  }

  modelConfig(name: string, version: string): TritonModelConfig {
    this.modelMetadata(name, version);
    return this.config;
  }

  async modelStatistics(name: string, version: string): Promise<readonly ModelStatisticsView[]> {
    if (name !== '') this.modelMetadata(name, version);
    return this.stats.view(name, version === '' ? '' : version);
  }

  /** The repository index; `ready` is the frontend's readiness (a failing check counts as not ready). */
  async repositoryIndex(readyOnly: boolean, ready: () => Promise<boolean>): Promise<readonly RepositoryModel[]> {
    const isReady = await ready().catch(() => false);
    if (readyOnly && !isReady) return [];
    return [{ name: this.meta.name, version: this.o.version, state: isReady ? 'READY' : 'UNAVAILABLE', reason: isReady ? '' : 'not ready (queue backend unreachable, no worker, or draining)' }];
  }
}
