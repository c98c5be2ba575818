/** Shared setup of the scheduling benchmarks: the committed profile and manifest, as `simulate` reads them. */
import { join } from 'node:path';
import { manifestAccuracy } from '../../src/cli/simulate-commands.js';
import { LatencyTable } from '../../src/scheduler/latency-table.js';
import { loadProfile } from '../../src/supernet/profile-file.js';

export function committedTable(loadScale = 1, supernet = 'supernets/fmnist-resnet'): LatencyTable {
  const profile = loadProfile(join(supernet, 'profiles', 'cpu-2core.json'));
  return LatencyTable.fromProfile(profile, { accuracy: manifestAccuracy(join(supernet, 'manifest.json')), quantile: 'p95', loadScale });
}

/** Best throughput (req/s) of one executor on a subnet: max over batch sizes of b / p50 latency. */
export function capacity(table: LatencyTable, id: string): number {
  const s = table.subnet(id);
  let best = 0;
  for (let b = 1; b <= table.maxBatch; b++) best = Math.max(best, (b / table.stats(s.index, b).p50) * 1000);
  return best;
}
