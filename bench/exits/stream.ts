/**
 * Streams stored feedback through the real ExitManager as a worker would at low load: each
 * serving batch goes through `begin` -> `stage` (ramp by ramp) -> `finish`, with the ramp
 * logits rebuilt from the stored (argmax, loss) pairs. Latency of an input = cumulative stage
 * latency (profile, batch 1 by default) up to the stage after which it was released.
 */
import type { FeedbackRecord } from '../../src/exits/feedback.js';
import { latencyAt, type ExitLatency } from '../../src/exits/latency.js';
import type { ExitManager, SubnetExitSnapshot } from '../../src/exits/manager.js';
import { writeLogits } from './data.js';

export interface StreamOutcome {
  /** Per input, in stream order. */
  readonly latencyMs: Float64Array;
  /** Answer agrees with the final output. */
  readonly agree: Uint8Array;
  /** Answer equals the label. */
  readonly right: Uint8Array;
  /** Stage after which it was released (-1: final). */
  readonly releasedAfter: Int32Array;
  /** Snapshot after every feedback batch the manager completed, with the stream position. */
  readonly trace: { readonly at: number; readonly snapshot: SubnetExitSnapshot; readonly violations: number; readonly emergencyOff: readonly string[] }[];
}

export function streamThrough(
  manager: ExitManager,
  subnet: string,
  records: readonly FeedbackRecord[],
  lat: ExitLatency,
  classes: number,
  batch = 1,
): StreamOutcome {
  const N = records.length;
  const out: StreamOutcome = {
    latencyMs: new Float64Array(N),
    agree: new Uint8Array(N),
    right: new Uint8Array(N),
    releasedAfter: new Int32Array(N),
    trace: [],
  };
  const n = lat.toRamp.length;
  for (let start = 0; start < N; start += batch) {
    const rows = records.slice(start, start + batch);
    const b = manager.begin(subnet, rows.length);
    const released = new Map<number, { ramp: number; after: number }>();
    for (let j = 0; j < n; j++) {
      const logits = new Float32Array(rows.length * classes);
      rows.forEach((r, row) => writeLogits(logits, row, classes, r.pred[j] as number, r.loss[j] as number));
      for (const rel of b.stage(j, logits)) released.set(rel.row, { ramp: rel.ramp, after: rel.releasedAfter });
    }
    const fin = new Float32Array(rows.length * classes);
    rows.forEach((r, row) => writeLogits(fin, row, classes, r.finalPred, r.finalLoss));
    const labels = rows.map((r) => r.label ?? -1);
    const res = b.finish(fin, labels);
    rows.forEach((r, row) => {
      const i = start + row;
      const rel = released.get(row);
      const answer = rel ? (r.pred[rel.ramp] as number) : r.finalPred;
      out.latencyMs[i] = latencyAt(lat, rel ? rel.after : -1);
      out.agree[i] = answer === r.finalPred ? 1 : 0;
      out.right[i] = answer === r.label ? 1 : 0;
      out.releasedAfter[i] = rel ? rel.after : -1;
    });
    if (res.chunks > 0) out.trace.push({ at: start + rows.length, snapshot: manager.snapshotOf(subnet), violations: res.violations, emergencyOff: res.emergencyOff });
  }
  return out;
}
