import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { Metrics } from '../../src/metrics/metrics.js';

describe('Grafana dashboard', () => {
  it('queries only metrics the server exports', async () => {
    const m = new Metrics('test');
    m.observeExits(() => []);
    const exported = new Set((await m.registry.getMetricsAsJSON()).map((x) => x.name));
    const dash = JSON.parse(readFileSync('docs/grafana/slackserve.json', 'utf8')) as { panels: { targets: { expr: string }[] }[] };
    const used = new Set(dash.panels.flatMap((p) => p.targets.flatMap((t) => t.expr.match(/\b(?:slackserve|nv)_[a-z_]+/g) ?? [])));
    expect(used.size).toBeGreaterThan(10);
    // Triton's families beside ours: every nv_* family the server exports has a panel
    const nv = [...exported].filter((n) => n.startsWith('nv_'));
    expect(nv.length).toBe(10);
    for (const n of nv) expect(used.has(n), `no panel for ${n}`).toBe(true);
    // histogram series carry _bucket/_sum/_count; a gauge may itself end in _count
    for (const n of used) expect(exported.has(n) || exported.has(n.replace(/_(bucket|sum|count)$/, '')), n).toBe(true);
  });
});
