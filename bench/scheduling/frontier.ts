/**
 * SlackFit against the fixed-subnet frontier of the same run (issue 12's "same accuracy" row):
 * the static policy whose served accuracy is closest to SlackFit's, and the static frontier's
 * attainment at SlackFit's accuracy, interpolated linearly between the two static runs whose
 * accuracies bracket it (null outside their range: no extrapolation).
 */
export interface PolicyPoint {
  readonly policy: string;
  /** 0..100 */
  readonly attainment: number;
  /** 0..100, mean top-1 of what was served within the SLO; null when nothing was */
  readonly accuracy: number | null;
}

export interface FrontierComparison {
  readonly slackfit: PolicyPoint;
  readonly closest: PolicyPoint | null;
  /** SlackFit's attainment / the closest static's */
  readonly closest_ratio: number | null;
  /** the static frontier's attainment at SlackFit's accuracy */
  readonly frontier_attainment: number | null;
  readonly frontier_ratio: number | null;
}

const ratio = (a: number, b: number | null | undefined): number | null => (b === null || b === undefined || b <= 0 ? null : Math.round((a / b) * 100) / 100);

export function compareWithStatics(points: readonly PolicyPoint[]): FrontierComparison | null {
  const sf = points.find((p) => p.policy === 'slackfit');
  if (!sf || sf.accuracy === null) return null;
  const acc = sf.accuracy;
  const statics = points.filter((p): p is PolicyPoint & { accuracy: number } => p.policy.startsWith('static') && p.accuracy !== null).sort((a, b) => a.accuracy - b.accuracy);
  let closest: (typeof statics)[number] | null = null;
  for (const p of statics) if (closest === null || Math.abs(p.accuracy - acc) < Math.abs(closest.accuracy - acc)) closest = p;
  let frontier: number | null = null;
  for (let i = 1; i < statics.length && frontier === null; i++) {
    const lo = statics[i - 1] as (typeof statics)[number];
    const hi = statics[i] as (typeof statics)[number];
    if (lo.accuracy <= acc && acc <= hi.accuracy)
      frontier = hi.accuracy === lo.accuracy ? Math.max(lo.attainment, hi.attainment) : lo.attainment + ((acc - lo.accuracy) / (hi.accuracy - lo.accuracy)) * (hi.attainment - lo.attainment);
  }
  if (frontier === null && statics.length === 1 && statics[0]?.accuracy === acc) frontier = statics[0].attainment;
  return {
    slackfit: sf,
    closest,
    closest_ratio: ratio(sf.attainment, closest?.attainment),
    frontier_attainment: frontier === null ? null : Math.round(frontier * 100) / 100,
    frontier_ratio: ratio(sf.attainment, frontier),
  };
}
