/**
 * Redis WAIT, shared by every write of one connection: at most one WAIT in flight, and one WAIT
 * answers for every write whose reply arrived before it was sent.
 *
 * Why: WAIT blocks the connection that sends it (Redis runs a client's commands in order, and a
 * client in WAIT runs nothing else) until the replicas acknowledge or the timeout passes. One WAIT
 * per request, as the frontend sent before, queued N timeouts behind one another whenever the
 * master had no replica in sync: after a Sentinel failover the new master has none until the
 * sentinels turn the old master into its replica (~10 s on this machine), and 400 requests'
 * WAITs of 200 ms each held every command behind them, enqueues included, for those 10 s; the
 * requests reached the stream after their deadlines (the "worker stall" of redis-sentinel.test.ts,
 * reproduced in redis-sentinel-stall.test.ts). Shared, a request waits for at most two WAITs.
 *
 * Coverage needs no assumption about the order commands go out in: a caller asks only after its
 * write's reply arrived, so the write ran before any WAIT sent later, and WAIT counts the replicas
 * holding everything its connection wrote before it. A caller that asks while a WAIT is in flight
 * waits for the next one; callers that ask in the same turn of the event loop share one.
 */
export class ReplicaWait {
  private inFlight = false;
  private waiting: { resolve(n: number): void; reject(e: unknown): void }[] = [];
  /** WAITs sent so far. */
  sent = 0;

  /** `send`: one WAIT on the connection the writes went through; resolves with its count. */
  constructor(private readonly send: () => Promise<number>) {}

  /** Call after the write's reply arrived: how many replicas hold it (WAIT's count). */
  acked(): Promise<number> {
    return new Promise((resolve, reject) => {
      this.waiting.push({ resolve, reject });
      if (this.inFlight) return;
      // Sent once the promise jobs now queued have run: the enqueues whose replies came in the
      // same socket read ask before it and share it.
      this.inFlight = true;
      process.nextTick(() => this.next());
    });
  }

  private next(): void {
    const batch = this.waiting;
    this.waiting = [];
    if (batch.length === 0) {
      this.inFlight = false;
      return;
    }
    this.inFlight = true;
    this.sent++;
    let p: Promise<number>;
    try {
      p = this.send();
    } catch (e) {
      p = Promise.reject(e);
    }
    p.then(
      (n) => batch.forEach((w) => w.resolve(n)),
      (e: unknown) => batch.forEach((w) => w.reject(e)),
    ).finally(() => this.next());
  }
}
