/**
 * What the exit loops are configured with and report: per-subnet specs (from the manifest and
 * the profile), the settings with their defaults, and the observable snapshot of a subnet's state.
 */
import { SlackserveError } from '../errors.js';
import type { RampStats, SubnetEntry } from '../supernet/manifest-types.js';
import type { Profile } from '../supernet/profile-file.js';
import type { ExitPolicyKind } from './batch.js';
import { DEFAULT_CALIBRATION, type CalibrationSettings } from './calibration.js';
import { StageLatencies } from './latency.js';
import { DEFAULT_RAMPS, type RampSettings, type RampUtility } from './ramps.js';
import { DEFAULT_TUNER, type TunerSettings } from './tuner.js';

/** What the manager needs to know about one subnet. */
export interface SubnetExitSpec {
  readonly id: string;
  /** Stage ids in chain order; ramp j follows stage j. */
  readonly stages: readonly string[];
  readonly classes: number;
  /** Per-stage latency (ramp included) then the head's, by batch size. */
  readonly latency: StageLatencies;
  /** The manifest's per-ramp test-set statistics (bootstrap). */
  readonly rampStats?: readonly RampStats[];
}

export interface ExitSettings {
  readonly policy: ExitPolicyKind;
  /** Per-subnet policy overrides. */
  readonly policyBySubnet: Readonly<Record<string, ExitPolicyKind>>;
  readonly tuner: TunerSettings;
  readonly ramps: RampSettings;
  /** Feedback window the loops work on (Apparate: 4 batches). */
  readonly windowSamples: number;
  /** No early answers until this much feedback has arrived (a threshold tuned on 128 inputs overfits them). */
  readonly warmupSamples: number;
  /** A feedback batch: the unit of violation checks. */
  readonly chunkSamples: number;
  /** Slow-loop period (Apparate: ~128 samples). */
  readonly rampCheckSamples: number;
  /** Periodic re-tune (besides violations, ramp changes and the start), so easier traffic is used too. */
  readonly retuneSamples: number;
  /** A chunk violates when its accuracy is below 1 - budget with one-sided binomial p-value < alpha (1 = any shortfall). */
  readonly violationAlpha: number;
  /** Consecutive violating chunks that switch the failing ramps off (tau = 0). */
  readonly emergencyAfter: number;
  /** Cost of an active ramp as a fraction of its stage's latency (GAP + linear + the decision). */
  readonly rampCostFraction: number;
  /** Batch size whose stage latencies the loops optimise (1: the low-load case where exits matter most). */
  readonly tuneBatch: number;
  /** May the last ramp (right before the head) be activated? It saves only the head. */
  readonly lastRampCandidate: boolean;
  /** Recall: loss-grid size |V|. */
  readonly gridSize: number;
  /** Recall: fixed lambda, or 'auto' (the smallest lambda meeting the accuracy target on the window). */
  readonly lambda: number | 'auto';
  /** Recall: pseudo-inputs shrinking each transition row towards the marginal. */
  readonly smoothing: number;
  readonly calibration: CalibrationSettings;
}

export const DEFAULT_EXIT_SETTINGS: ExitSettings = Object.freeze({
  policy: 'threshold',
  policyBySubnet: {},
  tuner: DEFAULT_TUNER,
  ramps: DEFAULT_RAMPS,
  windowSamples: 2048,
  warmupSamples: 512,
  chunkSamples: 128,
  rampCheckSamples: 128,
  retuneSamples: 512,
  violationAlpha: 0.05,
  emergencyAfter: 2,
  rampCostFraction: 0.02,
  tuneBatch: 1,
  lastRampCandidate: false,
  gridSize: 16,
  lambda: 'auto',
  smoothing: 1,
  calibration: DEFAULT_CALIBRATION,
});

export interface EarlyAccuracy {
  /** Window inputs whose answer came from a ramp (policy exits; deadline answers excluded). */
  readonly samples: number;
  readonly earlyShare: number;
  /** Agreement of the answers (early or final) with the final output over the window. */
  readonly vsFinal: number;
  /** Accuracy of the answers against labels, over window inputs with a label (null: none had one). */
  readonly vsLabels: number | null;
  /** The final output's accuracy on the same labelled inputs. */
  readonly finalVsLabels: number | null;
}

export interface SubnetExitSnapshot {
  readonly subnet: string;
  readonly policy: ExitPolicyKind;
  readonly feedback: number;
  readonly window: number;
  /** Stage id -> tau (threshold policy; 0 = never exits). */
  readonly thresholds: Readonly<Record<string, number>>;
  readonly active: readonly string[];
  readonly emergencyOff: readonly string[];
  /** Accuracy of the current policy replayed on the window. */
  readonly windowAccuracy: number;
  /** Realized accuracy of the last feedback batch. */
  readonly lastChunkAccuracy: number | null;
  readonly violations: number;
  readonly consecutiveViolations: number;
  readonly emergencies: number;
  readonly tunes: number;
  readonly rampChanges: number;
  /** Stage id -> latest utility of each active ramp. */
  readonly utilities: Readonly<Record<string, RampUtility>>;
  readonly lambda: number | null;
  readonly deadlineAnswers: number;
  readonly expectedLatencyMs: number;
  readonly fullLatencyMs: number;
  readonly accuracy: EarlyAccuracy;
}

/** Per-subnet specs from the manifest's subnets and a profile (subnets the profile lacks are left out). */
export function exitSpecs(subnets: readonly SubnetEntry[], classes: number, profile: Profile): SubnetExitSpec[] {
  const out: SubnetExitSpec[] = [];
  for (const s of subnets) {
    const p = profile.subnets.find((x) => x.id === s.id);
    if (!p || !p.stages) continue;
    const byBatch = new Map<number, number[]>();
    for (const [b, row] of Object.entries(p.stages)) {
      const ids = row.map((r) => r.stage);
      const want = [...s.stages, 'head'];
      if (ids.length !== want.length || ids.some((id, i) => id !== want[i]))
        throw new SlackserveError('PROFILE_INVALID', `profile stages of ${s.id} at batch ${b} are [${ids.join(', ')}], manifest chain is [${want.join(', ')}]`);
      byBatch.set(Number(b), row.map((r) => r.p50));
    }
    if (byBatch.size === 0) continue;
    out.push({ id: s.id, stages: s.stages, classes, latency: new StageLatencies(byBatch), ...(s.ramps ? { rampStats: s.ramps } : {}) });
  }
  return out;
}
