/**
 * Policy names as users type them (`--policy slackfit,static-largest,clipper:r20_d111_w16-32-64`)
 * and the one place that builds a policy from a name.
 *
 *   slackfit                  SlackFit over every subnet in the table
 *   static:<subnet>           fixed subnet, largest batch   (also static-smallest / static-largest)
 *   clipper:<subnet>          fixed subnet, AIMD batch cap  (also clipper-smallest / clipper-largest)
 *   clockwork:<subnet>        fixed subnet, EDF + predictive drop (also clockwork-smallest / -largest)
 *   infaas                    per-request choice among separately loaded variants
 *
 * "smallest" is the least accurate served subnet (on a Pareto set also the fastest), "largest" the
 * most accurate.
 */
import type { Config } from '../config.js';
import { SlackserveError } from '../errors.js';
import { clipperPolicy, clockworkPolicy, staticPolicy } from './fixed-subnet.js';
import { infaasPolicy } from './infaas.js';
import type { LatencyTable, SubnetInfo } from './latency-table.js';
import { slackFit, SLACKFIT_DEFAULTS, type SlackFitOptions } from './slackfit.js';
import { withQueueDelay, type QueueDelayOptions } from './queue-delay.js';
import type { Policy } from './types.js';

export const POLICY_NAMES = ['slackfit', 'static', 'clipper', 'clockwork', 'infaas'] as const;

export interface PolicyOptions {
  readonly slackfit?: Partial<SlackFitOptions>;
  readonly dispatchOverheadMs?: number;
  /** A queue delay around the policy (queue-delay.ts); absent or delayMs 0 = none. */
  readonly queueDelay?: QueueDelayOptions;
}

function fixedSubnet(table: LatencyTable, which: string): SubnetInfo {
  if (which === 'smallest') return table.byAccuracy[table.byAccuracy.length - 1] as SubnetInfo;
  if (which === 'largest') return table.mostAccurate;
  return table.subnet(which);
}

export function buildPolicy(spec: string, table: LatencyTable, opts: PolicyOptions = {}): Policy {
  const p = buildBare(spec, table, opts);
  return opts.queueDelay && opts.queueDelay.delayMs > 0 ? withQueueDelay(p, opts.queueDelay) : p;
}

function buildBare(spec: string, table: LatencyTable, opts: PolicyOptions): Policy {
  const overhead = opts.dispatchOverheadMs ?? SLACKFIT_DEFAULTS.dispatchOverheadMs;
  const m = /^(slackfit|static|clipper|clockwork|infaas)(?:[-:](.+))?$/.exec(spec.trim());
  if (!m)
    throw new SlackserveError('POLICY_UNKNOWN', `unknown policy "${spec}": expected slackfit, infaas, or static|clipper|clockwork followed by :<subnet id>, -smallest or -largest`);
  const [, kind, arg] = m as unknown as [string, string, string | undefined];
  if (kind === 'slackfit' || kind === 'infaas') {
    if (arg !== undefined) throw new SlackserveError('POLICY_UNKNOWN', `policy ${kind} takes no subnet (got "${spec}")`);
    return (kind === 'slackfit' ? slackFit(table, { dispatchOverheadMs: overhead, ...opts.slackfit }) : infaasPolicy(table, overhead)) as Policy;
  }
  if (arg === undefined) throw new SlackserveError('POLICY_UNKNOWN', `policy ${kind} needs a subnet: ${kind}:<subnet id>, ${kind}-smallest or ${kind}-largest`);
  const s = fixedSubnet(table, arg);
  const name = arg === 'smallest' || arg === 'largest' ? `${kind}-${arg}` : `${kind}:${s.id}`;
  if (kind === 'static') return staticPolicy(table, s, name) as Policy;
  if (kind === 'clipper') return clipperPolicy(table, s, {}, name) as Policy;
  return clockworkPolicy(table, s, overhead, name) as Policy;
}

/** Policy options implied by a configuration (the server and `simulate` both use this). */
export function policyOptionsFrom(cfg: Config): PolicyOptions {
  return {
    dispatchOverheadMs: cfg.dispatchOverheadMs,
    queueDelay: { delayMs: cfg.maxQueueDelayMs, preferredImages: Math.min(cfg.preferredBatchImages, cfg.maxBatch) },
    slackfit: {
      bucketMs: cfg.slackfitBucketMs,
      tieBreak: cfg.slackfitTieBreak,
      dropInfeasible: cfg.dropInfeasible === 'on',
      exitAware: cfg.slackfitExitAware === 'on',
      rule: cfg.slackfitRule,
      drainMargin: cfg.slackfitDrainMargin,
      drainAt: cfg.slackfitDrainAt,
      model: { quantile: cfg.slackfitModelQuantile, contentionAlpha: cfg.slackfitContentionAlpha },
    },
  };
}
