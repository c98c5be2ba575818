/** The simulator's plots: attainment and accuracy over time (all policies), subnet mix per policy. */
import { chartSvg } from '../plot/svg.js';
import type { TimeSeries } from './summary.js';

export interface NamedSeries {
  readonly policy: string;
  readonly series: TimeSeries;
}

const finite = (pts: [number, number][]): [number, number][] => pts.filter(([, y]) => Number.isFinite(y));

export function attainmentPlot(runs: readonly NamedSeries[], title: string): string {
  return chartSvg({
    title: `${title}: SLO attainment over time`,
    xLabel: 'time, s',
    yLabel: 'SLO attainment (per bin)',
    series: runs.map((r) => ({ name: r.policy, points: finite(r.series.t.map((t, k) => [t, r.series.attainment[k] as number])) })),
  });
}

export function accuracyPlot(runs: readonly NamedSeries[], title: string): string {
  return chartSvg({
    title: `${title}: served accuracy over time (requests within SLO)`,
    xLabel: 'time, s',
    yLabel: 'mean top-1 accuracy',
    series: runs.map((r) => ({ name: r.policy, points: finite(r.series.t.map((t, k) => [t, (r.series.accuracy[k] as number) * 100])) })),
  });
}

export function loadPlot(run: NamedSeries, title: string): string {
  return chartSvg({
    title: `${title}: offered load`,
    xLabel: 'time, s',
    yLabel: 'requests/s',
    series: [{ name: 'offered', points: run.series.t.map((t, k) => [t, run.series.offeredRps[k] as number] as [number, number]) }],
  });
}

export function mixPlot(run: NamedSeries, title: string): string {
  return chartSvg({
    title: `${title}: subnet mix over time, ${run.policy}`,
    xLabel: 'time, s',
    yLabel: 'share of served requests',
    series: Object.entries(run.series.mix).map(([id, share]) => ({ name: id, points: run.series.t.map((t, k) => [t, share[k] as number] as [number, number]) })),
  });
}
