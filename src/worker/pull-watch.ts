/**
 * Where the worker's pull loop is, and one log line when it stays at one step too long.
 *
 * Why: after a load-induced Sentinel failover a worker once served nothing for ~13 s with every
 * connection on the new master and Redis reachable, and nothing in its log said why (docs/queue.md).
 * A stalled loop now says at which step it is waiting (pulling, waiting for room in its local
 * queue, backing off, admitting), with the local queue and the free slots, so the next such run
 * shows where to look. Checked on the worker's periodic timer; time is injected.
 */
export interface PullWatchOptions {
  /** A step that lasts longer than this is logged (once per step), ms. */
  readonly stallMs: number;
  readonly now: () => number;
  readonly log?: ((line: string) => void) | undefined;
  /** The loop's state, for the log line. */
  readonly state: () => string;
}

export class PullWatch {
  private step = 'starting';
  private since: number;
  private allowMs: number;
  private logged = false;

  constructor(private readonly o: PullWatchOptions) {
    this.since = o.now();
    this.allowMs = o.stallMs;
  }

  /** The loop enters `step`; `expectedMs` when the step may legitimately last longer (a backoff). */
  at(step: string, expectedMs = 0): void {
    this.step = step;
    this.since = this.o.now();
    this.allowMs = this.o.stallMs + expectedMs;
    this.logged = false;
  }

  /** Logs once if the current step has lasted too long; returns whether it has. */
  check(): boolean {
    const ms = this.o.now() - this.since;
    if (ms < this.allowMs) return false;
    if (!this.logged) {
      this.logged = true;
      this.o.log?.(`worker: its pull loop has been ${this.step} for ${(ms / 1000).toFixed(1)} s (${this.o.state()})`);
    }
    return true;
  }
}
