/** Accuracy/latency Pareto selection over measured subnets (pure). */

export interface Point {
  readonly id: string;
  readonly cost: number;
  readonly accuracy: number;
}

/**
 * Ids on the Pareto frontier, cheapest first: a point stays when it is strictly more accurate
 * than every point that costs no more than it (ties in cost go to the more accurate).
 */
export function paretoFront(points: readonly Point[]): string[] {
  const sorted = [...points].sort((a, b) => a.cost - b.cost || b.accuracy - a.accuracy);
  const front: string[] = [];
  let best = -Infinity;
  for (const p of sorted) {
    if (p.accuracy > best) {
      front.push(p.id);
      best = p.accuracy;
    }
  }
  return front;
}
