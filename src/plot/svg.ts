/**
 * Minimal dependency-free SVG line/scatter charts for reports (Pareto curves, latency vs batch,
 * attainment over time). Axes may be linear or log10.
 */

export interface Series {
  readonly name: string;
  readonly points: readonly (readonly [number, number])[];
  /** Draw a line through the points (default) or markers only. */
  readonly line?: boolean;
  readonly labels?: readonly string[];
}

export interface ChartSpec {
  readonly title: string;
  readonly xLabel: string;
  readonly yLabel: string;
  readonly xLog?: boolean;
  readonly yLog?: boolean;
  readonly width?: number;
  readonly height?: number;
  readonly series: readonly Series[];
}

const COLORS = [
  '#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf',
  '#000000', '#aec7e8', '#98df8a', '#ffbb78', '#c5b0d5', '#f7b6d2', '#9edae5', '#393b79',
];

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

function ticks(lo: number, hi: number, log: boolean): number[] {
  if (log) {
    const out: number[] = [];
    for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++)
      for (const m of [1, 2, 5]) {
        const v = m * 10 ** e;
        if (v >= lo && v <= hi) out.push(v);
      }
    return out;
  }
  const span = hi - lo || 1;
  const step = 10 ** Math.floor(Math.log10(span / 5));
  const nice = [1, 2, 5, 10].map((m) => m * step).find((s) => span / s <= 8) ?? step * 10;
  const out: number[] = [];
  for (let v = Math.ceil(lo / nice) * nice; v <= hi + 1e-12; v += nice) out.push(Number(v.toPrecision(12)));
  return out;
}

const fmt = (v: number): string => (Math.abs(v) >= 1000 || (Math.abs(v) < 0.01 && v !== 0) ? v.toExponential(0) : String(Number(v.toPrecision(3))));

export function chartSvg(spec: ChartSpec): string {
  const W = spec.width ?? 760;
  const H = spec.height ?? 460;
  const m = { l: 70, r: 200, t: 40, b: 55 };
  const all = spec.series.flatMap((s) => s.points);
  const xs = all.map((p) => p[0]);
  const ys = all.map((p) => p[1]);
  const pad = (lo: number, hi: number, log: boolean): [number, number] =>
    log ? [lo / 1.15, hi * 1.15] : [lo - (hi - lo || 1) * 0.05, hi + (hi - lo || 1) * 0.05];
  const [x0, x1] = pad(Math.min(...xs), Math.max(...xs), !!spec.xLog);
  const [y0, y1] = pad(Math.min(...ys), Math.max(...ys), !!spec.yLog);
  const tx = (v: number): number => {
    const f = spec.xLog ? Math.log10(v / x0) / Math.log10(x1 / x0) : (v - x0) / (x1 - x0);
    return m.l + f * (W - m.l - m.r);
  };
  const ty = (v: number): number => {
    const f = spec.yLog ? Math.log10(v / y0) / Math.log10(y1 / y0) : (v - y0) / (y1 - y0);
    return H - m.b - f * (H - m.t - m.b);
  };
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2 - m.r / 2}" y="22" text-anchor="middle" font-size="15">${esc(spec.title)}</text>`,
  ];
  for (const v of ticks(x0, x1, !!spec.xLog)) {
    const x = tx(v).toFixed(1);
    out.push(`<line x1="${x}" x2="${x}" y1="${m.t}" y2="${H - m.b}" stroke="#eee"/>`);
    out.push(`<text x="${x}" y="${H - m.b + 16}" text-anchor="middle">${fmt(v)}</text>`);
  }
  for (const v of ticks(y0, y1, !!spec.yLog)) {
    const y = ty(v).toFixed(1);
    out.push(`<line x1="${m.l}" x2="${W - m.r}" y1="${y}" y2="${y}" stroke="#eee"/>`);
    out.push(`<text x="${m.l - 6}" y="${y}" text-anchor="end" dominant-baseline="middle">${fmt(v)}</text>`);
  }
  out.push(`<rect x="${m.l}" y="${m.t}" width="${W - m.l - m.r}" height="${H - m.t - m.b}" fill="none" stroke="#333"/>`);
  out.push(`<text x="${(m.l + W - m.r) / 2}" y="${H - 12}" text-anchor="middle">${esc(spec.xLabel)}</text>`);
  out.push(`<text transform="translate(18 ${(m.t + H - m.b) / 2}) rotate(-90)" text-anchor="middle">${esc(spec.yLabel)}</text>`);
  spec.series.forEach((s, i) => {
    const color = COLORS[i % COLORS.length] as string;
    const pts = s.points.map(([x, y]) => [tx(x), ty(y)] as const);
    if (s.line !== false && pts.length > 1)
      out.push(`<polyline fill="none" stroke="${color}" stroke-width="2" points="${pts.map(([x, y]) => `${x.toFixed(1)},${y.toFixed(1)}`).join(' ')}"/>`);
    pts.forEach(([x, y], j) => {
      out.push(`<circle cx="${x.toFixed(1)}" cy="${y.toFixed(1)}" r="3.5" fill="${color}"/>`);
      const label = s.labels?.[j];
      // labels near the right edge grow leftwards so they are not clipped by the legend
      const leftwards = x > W - m.r - 140;
      if (label)
        out.push(
          `<text x="${(leftwards ? x - 5 : x + 5).toFixed(1)}" y="${(y - 5).toFixed(1)}" font-size="9" fill="#555"` +
            `${leftwards ? ' text-anchor="end"' : ''}>${esc(label)}</text>`,
        );
    });
    const ly = m.t + 10 + i * 18;
    out.push(`<rect x="${W - m.r + 12}" y="${ly - 6}" width="12" height="12" fill="${color}"/>`);
    out.push(`<text x="${W - m.r + 30}" y="${ly}" dominant-baseline="middle">${esc(s.name)}</text>`);
  });
  out.push('</svg>');
  return out.join('\n') + '\n';
}
