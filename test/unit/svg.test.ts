import { describe, expect, it } from 'vitest';
import { chartSvg } from '../../src/plot/svg.js';

describe('chartSvg', () => {
  it('draws one polyline per line series, one marker per point and a legend entry per series', () => {
    const svg = chartSvg({
      title: 'a <b>',
      xLabel: 'x',
      yLabel: 'y',
      xLog: true,
      series: [
        { name: 's1', points: [[1, 2], [10, 3], [100, 4]] },
        { name: 's2', points: [[5, 1]], line: false },
      ],
    });
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg.match(/<polyline/g)?.length).toBe(1);
    expect(svg.match(/<circle/g)?.length).toBe(4);
    expect(svg).toContain('a &lt;b&gt;');
    expect(svg).not.toContain('NaN');
  });
});
