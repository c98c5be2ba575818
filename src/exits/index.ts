/** Early exits: Apparate's threshold loops, T-Tamer's recall policy, and the manager a worker uses. */
export { argmaxRows, batchConfidence, maxSoftmax, rowConfidence, type BatchConfidence, type RowConfidence } from './softmax.js';
export { agrees, FeedbackWindow, recordsFromLogits, type FeedbackRecord } from './feedback.js';
export { exitLatencyOf, latencyAt, StageLatencies, type ExitLatency } from './latency.js';
export { decideExits, evaluateThresholds, exitRampOf, type ExitDecision, type ThresholdOutcome } from './thresholds.js';
export { DEFAULT_TUNER, tuneThresholds, tuningTarget, type TuneRequest, type TuneResult, type TunerSettings } from './tuner.js';
export { adjustRamps, DEFAULT_RAMPS, meanLatencyWithOverhead, rampUtilities, type Adjustment, type AdjustRequest, type RampSettings, type RampUtility, type UtilityRequest } from './ramps.js';
export { Calibration, DEFAULT_CALIBRATION, isotonic, RAW_LOSS_EDGES, rawBin, type CalibrationSettings } from './calibration.js';
export {
  binOf,
  buildTransitions,
  fitLambda,
  makeGrid,
  RecallPolicy,
  simulateRecall,
  solveDynamicIndex,
  type ChainOutcome,
  type ChainSample,
  type DynamicIndex,
  type RecallState,
  type Transitions,
} from './recall.js';
export { oracleExit, oracleLatencies } from './oracle.js';
export { deadlineAnswer, type DeadlineAnswer, type RampObservation } from './deadline.js';
export {
  BatchExits,
  DEFAULT_EXIT_SETTINGS,
  ExitManager,
  exitSpecs,
  type EarlyAccuracy,
  type ExitPolicyKind,
  type ExitSettings,
  type FeedbackOutcome,
  type Release,
  type SubnetExitSnapshot,
  type SubnetExitSpec,
} from './manager.js';
