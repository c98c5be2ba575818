/** The replay's HTML report: self-contained (inline SVG, no scripts), one column per run. */
import { chartSvg, type Series } from '../plot/svg.js';
import { metSlo, servedAccuracy, type ReplaySummary } from './report.js';
import type { RequestRecord } from './types.js';

export interface ReportRun {
  readonly name: string;
  readonly records: readonly RequestRecord[];
  readonly summary: ReplaySummary;
}

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

function binned(records: readonly RequestRecord[], bins: number, value: (rs: RequestRecord[]) => number): [number, number][] {
  if (records.length === 0) return [];
  const end = Math.max(...records.map((r) => r.scheduledMs), 1);
  const w = end / bins;
  const groups: RequestRecord[][] = Array.from({ length: bins }, () => []);
  for (const r of records) (groups[Math.min(bins - 1, Math.floor(r.scheduledMs / w))] as RequestRecord[]).push(r);
  return groups.flatMap((g, k) => (g.length === 0 ? [] : [[((k + 0.5) * w) / 1000, value(g)] as [number, number]]));
}

function mixOverTime(records: readonly RequestRecord[], key: (r: RequestRecord) => string, bins: number): Series[] {
  const ok = records.filter((r) => r.outcome === 'ok');
  const keys = [...new Set(ok.map(key))].sort();
  return keys.map((k) => ({ name: k, points: binned(ok, bins, (g) => g.filter((r) => key(r) === k).length / g.length) }));
}

export function reportHtml(runs: readonly ReportRun[], title: string): string {
  const bins = 60;
  const charts: string[] = [];
  charts.push(
    chartSvg({
      title: 'offered load',
      xLabel: 'time, s',
      yLabel: 'requests/s',
      series: runs.slice(0, 1).map((r) => ({ name: 'offered', points: binned(r.records, bins, (g) => g.length / ((Math.max(...r.records.map((x) => x.scheduledMs), 1) / bins) / 1000)) })),
    }),
  );
  charts.push(chartSvg({ title: 'SLO attainment over time', xLabel: 'time, s', yLabel: 'attainment', series: runs.map((r) => ({ name: r.name, points: binned(r.records, bins, (g) => g.filter(metSlo).length / g.length) })) }));
  charts.push(
    chartSvg({
      title: 'served accuracy over time (answers within SLO, vs labels)',
      xLabel: 'time, s',
      yLabel: 'top-1 %',
      series: runs.map((r) => ({
        name: r.name,
        points: binned(r.records, bins, (g) => {
          const a = servedAccuracy(g.filter(metSlo));
          return a === null ? NaN : 100 * a;
        }).filter(([, y]) => Number.isFinite(y)),
      })),
    }),
  );
  charts.push(
    chartSvg({
      title: 'latency CDF (answered requests)',
      xLabel: 'latency, ms (log)',
      yLabel: 'fraction',
      xLog: true,
      series: runs.map((r) => {
        const l = r.records.filter((x) => x.outcome === 'ok').map((x) => Math.max(0.01, x.latencyMs)).sort((a, b) => a - b);
        const step = Math.max(1, Math.floor(l.length / 200));
        return { name: r.name, points: l.filter((_, i) => i % step === 0).map((v, i) => [v, Math.min(1, (i * step + 1) / l.length)] as [number, number]) };
      }),
    }),
  );
  for (const r of runs) {
    charts.push(chartSvg({ title: `subnet mix over time: ${r.name}`, xLabel: 'time, s', yLabel: 'share', series: mixOverTime(r.records, (x) => x.subnet, bins) }));
    charts.push(chartSvg({ title: `exit mix over time: ${r.name}`, xLabel: 'time, s', yLabel: 'share', series: mixOverTime(r.records, (x) => x.exit, bins) }));
  }
  const pct = (v: number | null): string => (v === null ? '-' : `${(v * 100).toFixed(2)}%`);
  const rows: [string, (s: ReplaySummary) => string][] = [
    ['requests', (s) => String(s.requests)],
    ['offered req/s', (s) => s.offered_rps.toFixed(1)],
    ['SLO attainment', (s) => pct(s.slo_attainment)],
    ['goodput req/s', (s) => s.goodput_rps.toFixed(1)],
    ['served accuracy (vs labels)', (s) => pct(s.served_accuracy)],
    ['p50 / p90 / p95 / p99 ms', (s) => [s.latency_ms.p50, s.latency_ms.p90, s.latency_ms.p95, s.latency_ms.p99].map((v) => (v === null ? '-' : v.toFixed(2))).join(' / ')],
    ['shed rate', (s) => pct(s.shed_rate)],
    ['downgrade rate', (s) => pct(s.downgrade_rate)],
    ['deadline-answer rate', (s) => pct(s.deadline_answer_rate)],
    ['early-answer rate', (s) => pct(s.early_answer_rate)],
    ['errors', (s) => `${s.errors} ${esc(JSON.stringify(s.errors_by_status))}`],
    ['client behind schedule p50 / p99 / max ms', (s) => [s.client_behind_ms.p50, s.client_behind_ms.p99, s.client_behind_ms.max].map((v) => (v === null ? '-' : v.toFixed(1))).join(' / ')],
    ['client CPU us/request (cores)', (s) => (s.client_cpu_us_per_request === null ? '-' : `${s.client_cpu_us_per_request} (${(s.client_cpu_cores ?? 0).toFixed(2)})`)],
    ['client limited', (s) => (s.client_limited ? `<b>yes</b>: ${esc(s.client_limited_reason ?? '')}` : 'no')],
  ];
  const table = `<table><tr><th></th>${runs.map((r) => `<th>${esc(r.name)}</th>`).join('')}</tr>${rows
    .map(([k, f]) => `<tr><td>${k}</td>${runs.map((r) => `<td>${f(r.summary)}</td>`).join('')}</tr>`)
    .join('')}</table>`;
  return `<!doctype html><html><head><meta charset="utf-8"><title>${esc(title)}</title>
<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}td:first-child{text-align:left}.charts{display:flex;flex-wrap:wrap;gap:1em}</style>
</head><body><h1>${esc(title)}</h1>${table}<div class="charts">${charts.join('\n')}</div></body></html>\n`;
}
