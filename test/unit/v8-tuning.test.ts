/**
 * applyV8Tuning's contract. Its effects are measurements of the whole server, made with
 * bench/serving/edge.ts and recorded in docs/serving.md ("Garbage collection"): full GCs ~7x
 * rarer under 16-image load with the larger old-generation growth, and with pretenuring off no
 * full GC in 30 s at 1,000 single-image requests/s (main-thread GC p99 ~2-4 ms instead of 8-13).
 * Synthetic churns in a unit test reproduced neither trigger (V8 resets a site's pretenuring at
 * the next full GC that finds the old generation mostly dead, which a small test heap reaches
 * at once).
 */
import { setFlagsFromString } from 'node:v8';
import { describe, expect, it } from 'vitest';
import { applyV8Tuning } from '../../src/server/v8-tuning.js';
import { loadConfig } from '../../src/config.js';

describe('V8 tuning', () => {
  it('refuses a negative or fractional growth percent, and 0 with pretenuring on leaves V8 alone', () => {
    expect(() => applyV8Tuning({ v8HeapGrowingPercent: -1, v8Pretenuring: 'on' })).toThrow(/non-negative integer/);
    expect(() => applyV8Tuning({ v8HeapGrowingPercent: 1.5, v8Pretenuring: 'on' })).toThrow(/non-negative integer/);
    expect(applyV8Tuning({ v8HeapGrowingPercent: 0, v8Pretenuring: 'on' })).toEqual([]);
  });

  it('says what it changed', () => {
    const lines = applyV8Tuning({ v8HeapGrowingPercent: 0, v8Pretenuring: 'off' });
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/pretenuring off/);
    // applyV8Tuning only ever turns it off; restore V8's default for the rest of this test worker
    setFlagsFromString('--allocation-site-pretenuring');
  });

  it('defaults to 400% growth and pretenuring off, both settable from the environment', () => {
    const d = loadConfig({ env: {} });
    expect(d.v8HeapGrowingPercent).toBe(400);
    expect(d.v8Pretenuring).toBe('off');
    expect(loadConfig({ env: { SLACKSERVE_V8_HEAP_GROWING_PERCENT: '0' } }).v8HeapGrowingPercent).toBe(0);
    expect(loadConfig({ env: { SLACKSERVE_V8_PRETENURING: 'on' } }).v8Pretenuring).toBe('on');
    expect(() => loadConfig({ env: { SLACKSERVE_V8_HEAP_GROWING_PERCENT: '-5' } })).toThrow();
    expect(() => loadConfig({ env: { SLACKSERVE_V8_PRETENURING: 'maybe' } })).toThrow();
  });
});
