/**
 * What early exits currently do per subnet, for the policy (`DecisionContext.exits`): a snapshot
 * of the exit loops refreshed every 100 ms. The loops change slowly; computing it per decision
 * would cost more than the decision.
 */
import type { ExitManager } from '../exits/index.js';
import type { ExitView } from '../scheduler/types.js';

export class ExitSnapshots {
  private last: { view: ExitView; at: number } | null = null;

  constructor(
    private readonly exits: ExitManager,
    private readonly refreshMs = 100,
  ) {}

  /** The snapshot for a decision at `now` (epoch ms). */
  at(now: number): ExitView {
    if (this.last && now - this.last.at < this.refreshMs) return this.last.view;
    const m = this.exits;
    const fraction = new Map<string, number>();
    const agreement = new Map<string, number>();
    for (const id of m.subnets) {
      const full = m.expectedLatencyMs(id, 1, 1);
      fraction.set(id, full > 0 ? Math.min(1, m.expectedLatencyMs(id, 1, 0.5) / full) : 1);
      const a = m.earlyAccuracy(id);
      agreement.set(id, a.samples > 0 ? a.vsFinal : 1);
    }
    const view: ExitView = { answerFraction: (id) => fraction.get(id) ?? 1, agreement: (id) => agreement.get(id) ?? 1 };
    this.last = { view, at: now };
    return view;
  }
}
