/**
 * A call's cancellation, as cheap as it can be: one small object per call, one handler. The
 * request path used an AbortController per call (an EventTarget, an AbortSignal and a listener
 * each), which cost ~57 µs a request in the profile of the single-image path.
 */
export interface Cancellation {
  /** True once the client cancelled or disconnected. */
  readonly cancelled: boolean;
  /** Sets the one handler run when the call is cancelled (null removes it). Runs at most once. */
  onCancel(handler: (() => void) | null): void;
}

export class CallCancel implements Cancellation {
  cancelled = false;
  private handler: (() => void) | null = null;

  onCancel(handler: (() => void) | null): void {
    this.handler = handler;
  }

  /** Marks the call cancelled and runs its handler (once; later calls do nothing). */
  readonly cancel = (): void => {
    if (this.cancelled) return;
    this.cancelled = true;
    const h = this.handler;
    this.handler = null;
    h?.();
  };
}

/** A cancellation that never fires (in-process callers without a client connection). */
export const NEVER_CANCELLED: Cancellation = Object.freeze({ cancelled: false, onCancel: () => undefined });
