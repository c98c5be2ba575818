/** Plots of the fidelity bench: what an operator would rather see than read. */
import { chartSvg } from '../../src/plot/svg.js';
import type { RequestRecord } from '../../src/replay/types.js';
import type { SimRun } from '../../src/sim/simulator.js';
import { timeSeries } from '../../src/sim/summary.js';

export interface PolicyRun {
  readonly policy: string;
  readonly live: readonly RequestRecord[];
  readonly sim: SimRun;
}

const BIN_S = 1;

/** Live attainment per bin of send time (met / sent in the bin). */
function liveAttainment(records: readonly RequestRecord[]): [number, number][] {
  const bins = new Map<number, [number, number]>();
  for (const r of records) {
    const k = Math.floor(r.scheduledMs / 1000 / BIN_S);
    const b = bins.get(k) ?? [0, 0];
    b[0] += r.outcome === 'ok' && r.latencyMs <= r.sloMs ? 1 : 0;
    b[1] += 1;
    bins.set(k, b);
  }
  return [...bins.entries()].sort((a, b) => a[0] - b[0]).map(([k, [met, n]]) => [k * BIN_S, met / n]);
}

export function attainmentSvg(trace: string, runs: readonly PolicyRun[]): string {
  const series = [];
  for (const r of runs) {
    series.push({ name: `${r.policy} live`, points: liveAttainment(r.live) });
    const duration = Math.ceil(Math.max(...r.live.map((x) => x.scheduledMs)) / 1000 / BIN_S);
    const ts = timeSeries(r.sim, Math.max(1, duration));
    series.push({ name: `${r.policy} simulated`, points: ts.t.map((t, k) => [t, ts.attainment[k] as number] as [number, number]).filter(([, y]) => Number.isFinite(y)) });
  }
  return chartSvg({ title: `${trace}: SLO attainment over time, live and simulated (1 s bins)`, xLabel: 'time, s', yLabel: 'SLO attainment', series });
}

/** SlackFit's live subnet mix over time, with the offered load scaled onto the same axis. */
export function mixSvg(trace: string, run: PolicyRun): string {
  const bins = new Map<number, Map<string, number>>();
  const sent = new Map<number, number>();
  for (const r of run.live) {
    const k = Math.floor(r.scheduledMs / 1000 / BIN_S);
    sent.set(k, (sent.get(k) ?? 0) + 1);
    if (r.outcome !== 'ok') continue;
    const m = bins.get(k) ?? new Map<string, number>();
    m.set(r.subnet, (m.get(r.subnet) ?? 0) + 1);
    bins.set(k, m);
  }
  const ks = [...sent.keys()].sort((a, b) => a - b);
  const ids = [...new Set(run.live.filter((r) => r.outcome === 'ok').map((r) => r.subnet))].sort();
  const peak = Math.max(...sent.values());
  // stacked shares: each line is the cumulative share up to that subnet
  const series = ids.map((id, i) => ({
    name: id,
    points: ks.map((k) => {
      const m = bins.get(k);
      const total = m ? [...m.values()].reduce((a, b) => a + b, 0) : 0;
      const upTo = ids.slice(0, i + 1).reduce((a, x) => a + (m?.get(x) ?? 0), 0);
      return [k * BIN_S, total ? upTo / total : 0] as [number, number];
    }),
  }));
  series.push({ name: `offered load (peak ${Math.round(peak / BIN_S)} req/s = 1)`, points: ks.map((k) => [k * BIN_S, (sent.get(k) ?? 0) / peak] as [number, number]) });
  return chartSvg({ title: `${trace}: ${run.policy} live subnet mix over time (cumulative shares, least accurate first) against load`, xLabel: 'time, s', yLabel: 'cumulative share / load', series });
}

export function latencyCdfSvg(trace: string, runs: readonly PolicyRun[]): string {
  const series = runs.map((r) => {
    const lat = r.live.filter((x) => x.outcome === 'ok').map((x) => x.latencyMs).sort((a, b) => a - b);
    const n = r.live.length;
    const step = Math.max(1, Math.floor(lat.length / 200));
    const pts: [number, number][] = [];
    for (let i = 0; i < lat.length; i += step) pts.push([Math.max(0.1, lat[i] as number), (i + 1) / n]);
    return { name: `${r.policy} live (errors count as never)`, points: pts };
  });
  return chartSvg({ title: `${trace}: client-side latency CDF, live`, xLabel: 'latency, ms (log)', yLabel: 'share of requests answered', xLog: true, series });
}
