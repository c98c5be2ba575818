/**
 * Fewer streams for a connection that floods a refusing door. Under a 10x burst the door turns
 * away thousands of calls a second, each cheap (~60 µs of CPU) but all on the edge's one event
 * loop, and node:http2 hands that loop everything a connection has sent in one turn: with h2load's
 * 256 streams per connection a turn took 60-150 ms of refusals (the overload bench's burst onset,
 * 250-530 refusals per turn), and the answers of the calls let in waited that long, a turn or two,
 * for the loop to read them off the queue (106-189 ms from the reply's write to its read).
 *
 * So a connection whose calls the door refused more than `2 x shedding` times within 100 ms is told
 * (SETTINGS_MAX_CONCURRENT_STREAMS) to hold at most `shedding` streams; its calls past that wait
 * at the client, as gRPC clients queue calls past the limit, and reach the door later. Its share of
 * a loop turn is then at most `shedding` new calls. Once the door has refused none of its calls
 * for `holdMs`, it gets `normal` back.
 *
 * Only flooding connections, and not every connection while the door refuses: that was tried
 * first, and a replay client on one connection (~22 calls in flight) that got 8 calls refused was
 * held to 16 streams for a second at a time; its calls queued behind the limit, reached admission
 * late and were shed (static-smallest 86% attainment against 99% without it, same machine).
 */
import type * as http2 from 'node:http2';

/** Refusals are counted per connection over windows this long, ms. */
const WINDOW_MS = 100;

export interface ShedStreamsOptions {
  /** Streams per connection normally (`grpcMaxConcurrentStreams`). */
  readonly normal: number;
  /** Streams for a connection that floods the refusing door (`grpcSheddingStreams`); 0: never reduced. */
  readonly shedding: number;
  /** A reduced connection gets `normal` back this long after its last refused call, ms. */
  readonly holdMs?: number;
  /** Epoch ms (injected). */
  readonly now: () => number;
}

interface Flood {
  windowStart: number;
  refusals: number;
  lastRefusal: number;
  reduced: boolean;
}

export class ShedStreams {
  private readonly floods = new Map<http2.Http2Session, Flood>();
  private timer: NodeJS.Timeout | undefined;
  private readonly holdMs: number;
  /** Times a connection's limit went down (tests, the overload bench's reading of it). */
  reductions = 0;

  constructor(private readonly o: ShedStreamsOptions) {
    this.holdMs = o.holdMs ?? 1_000;
  }

  get enabled(): boolean {
    return this.o.shedding > 0 && this.o.shedding < this.o.normal;
  }

  /** Refused calls per window past which a connection floods. */
  get threshold(): number {
    return 2 * this.o.shedding;
  }

  /** Connections holding the reduced limit now. */
  get reduced(): number {
    let n = 0;
    for (const f of this.floods.values()) if (f.reduced) n++;
    return n;
  }

  /** The door refused a call that came on `session`. */
  refusedOn(session: http2.Http2Session): void {
    if (!this.enabled) return;
    const now = this.o.now();
    let f = this.floods.get(session);
    if (f === undefined) {
      f = { windowStart: now, refusals: 0, lastRefusal: now, reduced: false };
      this.floods.set(session, f);
      session.once('close', () => this.floods.delete(session));
    }
    if (now - f.windowStart >= WINDOW_MS) {
      f.windowStart = now;
      f.refusals = 0;
    }
    f.refusals++;
    f.lastRefusal = now;
    if (f.reduced || f.refusals <= this.threshold) return;
    f.reduced = true;
    this.reductions++;
    apply(session, this.o.shedding);
    if (this.timer === undefined) {
      this.timer = setInterval(() => this.check(), Math.max(25, this.holdMs / 4));
      this.timer.unref();
    }
  }

  private check(): void {
    const now = this.o.now();
    let still = 0;
    for (const [session, f] of this.floods) {
      if (!f.reduced) {
        if (now - f.lastRefusal >= this.holdMs) this.floods.delete(session); // calm: forget it
        continue;
      }
      if (now - f.lastRefusal < this.holdMs) {
        still++;
        continue;
      }
      f.reduced = false;
      apply(session, this.o.normal);
    }
    if (still === 0) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }

  close(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.floods.clear();
  }
}

function apply(session: http2.Http2Session, streams: number): void {
  if (session.closed || session.destroyed) return;
  try {
    session.settings({ maxConcurrentStreams: streams });
  } catch {
    // too many SETTINGS unacknowledged (a client that stopped reading): its next change will do
  }
}
