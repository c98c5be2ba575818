/**
 * V8's old-generation growth for a serving process. The server's live heap is small (~15 MB of
 * code, models' metadata and tables), so V8's default limit sits only ~20 MB above it, less than a
 * young generation's worth: V8 then starts incremental marking early ("Start (task)" well below
 * the limit), and under 16-image load a full GC ran every ~0.3 s, its marking threads taking more
 * CPU than the request path itself. A larger growing factor lets short-lived garbage promoted by
 * scavenges die in the old generation between rarer full GCs. V8 reads the flag whenever it
 * recomputes the limit (after each full GC), so setting it at start-up is enough.
 */
import { setFlagsFromString } from 'node:v8';

/** Sets V8's --heap-growing-percent for this process (0 leaves V8's default); returns a log line. */
export function applyHeapGrowth(percent: number): string | undefined {
  if (!Number.isInteger(percent) || percent < 0) throw new Error(`heap growing percent must be a non-negative integer, got ${percent}`);
  if (percent === 0) return undefined;
  setFlagsFromString(`--heap-growing-percent=${percent}`);
  return `V8 old-generation growth ${percent}% above the live heap between full GCs (v8HeapGrowingPercent)`;
}
