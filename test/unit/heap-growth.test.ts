/**
 * applyHeapGrowth's contract. Its effect (full GCs ~7x rarer under 16-image load, CPU per request
 * ~20% lower) is a measurement of the whole server, made with bench/serving/edge.ts and recorded
 * in docs/serving.md; a synthetic churn in a unit test did not reproduce the server's trigger.
 */
import { describe, expect, it } from 'vitest';
import { applyHeapGrowth } from '../../src/server/heap-growth.js';
import { loadConfig } from '../../src/config.js';

describe('V8 heap growth', () => {
  it('refuses a negative or fractional percent, and 0 leaves V8 alone', () => {
    expect(() => applyHeapGrowth(-1)).toThrow(/non-negative integer/);
    expect(() => applyHeapGrowth(1.5)).toThrow(/non-negative integer/);
    expect(applyHeapGrowth(0)).toBeUndefined();
  });

  it('is on by default at 400% and can be set from the environment', () => {
    expect(loadConfig({ env: {} }).v8HeapGrowingPercent).toBe(400);
    expect(loadConfig({ env: { SLACKSERVE_V8_HEAP_GROWING_PERCENT: '0' } }).v8HeapGrowingPercent).toBe(0);
    expect(() => loadConfig({ env: { SLACKSERVE_V8_HEAP_GROWING_PERCENT: '-5' } })).toThrow();
  });
});
