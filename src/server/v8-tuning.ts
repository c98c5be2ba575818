/**
 * V8 garbage-collector settings for a serving process, set once at start by the CLI (serve,
 * frontend, worker, demo) through v8.setFlagsFromString. Both flags are read by V8 at every GC, so
 * setting them after start-up takes effect; the measurements behind each default are in
 * docs/serving.md ("Garbage collection").
 *
 * Old-generation growth. The server's live heap is small (~15 MB of code, models' metadata and
 * tables), so V8's default limit sits only ~20 MB above it, less than a young generation's worth:
 * V8 then starts incremental marking early, and under 16-image load a full GC ran every ~0.3 s.
 * A larger growing factor lets garbage promoted by scavenges die between rarer full GCs.
 *
 * Allocation-site pretenuring. V8 allocates objects from a site straight into the old generation
 * once a scavenge finds most of that site's objects alive. A serving process allocates a request's
 * objects (grpc-js's call and stream objects, the decoded request, the answer) at a handful of
 * sites; any scavenge that lands while a burst is in flight sees them alive, and from then on every
 * request's objects go to the old generation and die only in a full GC: at 1,000 single-image
 * requests/s ~12 KB per request survived a scavenge (a full GC every ~0.8 s, 10-24 ms pauses),
 * ~3 KB with pretenuring off (no full GC in 30 s). V8 undoes a site's pretenuring only at a full
 * GC, which the larger growth above makes rare. Requests are short-lived by nature, so
 * the server turns it off.
 */
import { setFlagsFromString } from 'node:v8';
import type { Config } from '../config.js';

/** Sets this process's GC flags from the two settings; returns log lines for what it changed. */
export function applyV8Tuning(t: Pick<Config, 'v8HeapGrowingPercent' | 'v8Pretenuring'>): string[] {
  const percent = t.v8HeapGrowingPercent;
  if (!Number.isInteger(percent) || percent < 0) throw new Error(`heap growing percent must be a non-negative integer, got ${percent}`);
  const lines: string[] = [];
  if (percent > 0) {
    setFlagsFromString(`--heap-growing-percent=${percent}`);
    lines.push(`V8 old-generation growth ${percent}% above the live heap between full GCs (v8HeapGrowingPercent)`);
  }
  if (t.v8Pretenuring === 'off') {
    setFlagsFromString('--no-allocation-site-pretenuring');
    lines.push('V8 allocation-site pretenuring off: request objects start in the young generation (v8Pretenuring)');
  }
  return lines;
}
