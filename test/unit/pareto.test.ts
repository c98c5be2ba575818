import { describe, expect, it } from 'vitest';
import { paretoFront } from '../../src/supernet/pareto.js';

describe('paretoFront', () => {
  it('keeps points strictly more accurate than every cheaper one, cheapest first', () => {
    const pts = [
      { id: 'slow-good', cost: 10, accuracy: 0.93 },
      { id: 'fast-bad', cost: 1, accuracy: 0.85 },
      { id: 'mid-dominated', cost: 5, accuracy: 0.84 },
      { id: 'mid', cost: 4, accuracy: 0.9 },
      { id: 'slow-equal', cost: 12, accuracy: 0.93 },
    ];
    expect(paretoFront(pts)).toEqual(['fast-bad', 'mid', 'slow-good']);
  });

  it('breaks cost ties by accuracy', () => {
    expect(paretoFront([{ id: 'a', cost: 1, accuracy: 0.5 }, { id: 'b', cost: 1, accuracy: 0.6 }])).toEqual(['b']);
    expect(paretoFront([])).toEqual([]);
  });
});
