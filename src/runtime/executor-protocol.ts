/** Messages between the executor (main thread) and its onnxruntime worker threads. */
import type { ErrorCode } from '../errors.js';
import type { Encoding } from '../supernet/manifest-types.js';
import type { SessionSettings } from './session.js';

export type RunMode = 'whole' | 'staged';

export interface ThreadInit {
  readonly dir: string;
  /** The executor's batch slots (shared memory, maxBatch images each): a run may name one instead of carrying images. */
  readonly slots: readonly SharedArrayBuffer[];
  readonly settings: SessionSettings;
  readonly encoding: Encoding;
}

export interface RunMessage {
  readonly type: 'run';
  readonly id: number;
  readonly subnetId: string;
  readonly mode: RunMode;
  /** The batch, when it is in no slot (its buffer transferred). */
  readonly images?: Float32Array;
  /** The batch is the first `floats` values of this shared slot (nothing transferred or copied). */
  readonly slot?: number;
  readonly floats?: number;
  /** Staged only: after each stage wait for a 'keep' message and drop the rows not kept. */
  readonly saveCompute?: boolean;
  /** Fault injection: the thread exits while holding this batch, before onnxruntime runs it. */
  readonly crash?: boolean;
}

/** Compute-saving staged runs: the original rows that continue after the stage just reported. */
export interface KeepMessage {
  readonly type: 'keep';
  readonly id: number;
  readonly rows: Int32Array;
}

export type ToThread = RunMessage | KeepMessage;

export type FromThread =
  | { readonly type: 'ready' }
  | { readonly type: 'init-error'; readonly code: ErrorCode; readonly message: string }
  | { readonly type: 'stage'; readonly id: number; readonly stage: string; readonly logits: Float32Array; readonly rows?: Int32Array }
  | {
      readonly type: 'done';
      readonly id: number;
      readonly logits: Float32Array;
      readonly computeMs: number;
      readonly rows?: Int32Array;
    }
  | { readonly type: 'error'; readonly id: number; readonly code: ErrorCode; readonly message: string };
