/** Messages between the executor (main thread) and its onnxruntime worker threads. */
import type { ErrorCode } from '../errors.js';
import type { Encoding } from '../supernet/manifest-types.js';
import type { SessionSettings } from './session.js';

export type RunMode = 'whole' | 'staged';

export interface ThreadInit {
  readonly dir: string;
  readonly settings: SessionSettings;
  readonly encoding: Encoding;
}

export interface RunMessage {
  readonly type: 'run';
  readonly id: number;
  readonly subnetId: string;
  readonly mode: RunMode;
  /** The batch (may be a view on a longer pooled buffer, whose whole buffer was transferred). */
  readonly images: Float32Array;
  /** The images' buffer is the executor's: send it back with the answer for reuse. */
  readonly pooled?: boolean;
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
      /** The batch's input buffer, handed back for reuse when it came from the executor's pool. */
      readonly input?: ArrayBuffer;
    }
  | { readonly type: 'error'; readonly id: number; readonly code: ErrorCode; readonly message: string };
