/**
 * The worker loop: the one place that owns I/O on the serving path.
 *   pull (shared queue -> local EDF queue) -> schedule (pure policy) -> execute (onnxruntime
 *   worker threads) -> respond (reply to the frontend, ack) -> feed back (policy.observe, metrics)
 * The loop is here; a batch's run, whole or staged with early exits, is run-batch.ts, and the
 * replies and acks (replies before acks; an unsent reply's delivery is unheld) are respond.ts.
 * Deadlines are enforced here: at dequeue (expired requests answer DEADLINE_EXPIRED at once) and
 * by the policy (hopeless sheddable requests are dropped). Work that dead workers left pending is
 * reclaimed periodically (at-least-once). On stop, pulling ends, queued work is handed back to
 * the shared queue, and running batches finish.
 */
import { asSlackserveError, SlackserveError } from '../errors.js';
import type { Delivery } from '../queue/types.js';
import { ArrivalRate } from '../scheduler/arrival-rate.js';
import { EdfQueue } from '../scheduler/edf-queue.js';
import type { Dispatch, Drop, QueuedRequest } from '../scheduler/types.js';
import { ExitSnapshots } from './exit-snapshots.js';
import { PullWatch } from './pull-watch.js';
import { Responder } from './respond.js';
import { runBatch, type BatchRun } from './run-batch.js';
import type { WorkerLoopOptions } from './loop-options.js';
import { concatBatch } from './tensors.js';

export type { BatchRunner, WorkerLoopOptions } from './loop-options.js';

/** Longest wait between failed pulls while the backend is known reachable. */
const PULL_RETRY_REACHABLE_MS = 250;

/** Default of WorkerLoopOptions.stallLogMs: well above a pull's block time and round trip. */
const STALL_LOG_MS = 3_000;

interface Held {
  readonly delivery: Delivery;
  /** Images in the request. */
  readonly count: number;
}

export class WorkerLoop {
  private readonly local = new EdfQueue();
  private readonly held = new Map<number, Held>();
  private readonly byId = new Map<string, QueuedRequest>();
  private readonly cancelled = new Set<string>();
  private state: unknown;
  private seq = 0;
  private free: number;
  private running = false;
  private pulling: Promise<void> | null = null;
  private reclaimTimer: NodeJS.Timeout | null = null;
  /** A queue delay's wake-up (one for the loop, not one per request) and when it fires. */
  private holdTimer: NodeJS.Timeout | null = null;
  private holdAt = Infinity;
  private readonly inflight = new Set<Promise<void>>();
  private wakePuller: (() => void) | null = null;
  private offCancel: (() => void) | null = null;
  private readonly accuracy: Map<string, number>;
  private readonly exitViews: ExitSnapshots | undefined;
  /** Images entering the local queue per ms (throughput-aware policies read it). */
  private readonly arrivals = new ArrivalRate();
  /** Replies and acks (respond.ts). */
  private readonly respond: Responder;
  /** Where the pull loop is; logged when it stays too long (pull-watch.ts). */
  private readonly watch: PullWatch;
  /** Batches run and requests answered, for tests and health reporting. */
  readonly stats = { batches: 0, answered: 0, expired: 0, dropped: 0, reclaimed: 0 };

  constructor(private readonly o: WorkerLoopOptions) {
    this.free = o.slots;
    this.state = o.policy.init();
    this.accuracy = new Map(o.table.subnets.map((s) => [s.id, s.accuracy]));
    this.exitViews = o.exits ? new ExitSnapshots(o.exits) : undefined;
    this.respond = new Responder(o);
    this.watch = new PullWatch({
      stallMs: o.stallLogMs ?? STALL_LOG_MS,
      now: () => Date.now(),
      log: o.log,
      state: () =>
        `local queue ${this.local.length} of ${this.o.localCap}, ${this.free} of ${this.o.slots} slots free, backend ${this.o.queue.backendDown?.() === true ? 'down' : 'reachable'}`,
    });
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.offCancel = this.o.queue.onCancel((id) => this.onCancel(id));
    this.pulling = this.pullLoop();
    this.reclaimTimer = setInterval(() => {
      this.watch.check();
      void this.reclaim();
    }, this.o.reclaimEveryMs);
    this.reclaimTimer.unref();
  }

  /** Graceful: stop pulling, hand queued work back, let running batches finish. */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    if (this.reclaimTimer) clearInterval(this.reclaimTimer);
    this.clearHold();
    this.wakePuller?.();
    await this.pulling;
    const back = this.local.drain().map((r) => (this.held.get(r.key) as Held).delivery);
    for (const r of back) this.forget(r.request.id);
    if (back.length > 0) await this.o.queue.release(back).catch((e: unknown) => this.o.log?.(`release failed: ${String(e)}`));
    await Promise.allSettled([...this.inflight]);
    this.offCancel?.();
  }

  /** Starts batches a raised slot limit now allows. */
  wake(): void {
    if (this.running) this.kick();
  }

  /** Requests held locally (pulled, not yet running). */
  get localDepth(): number {
    return this.local.length;
  }

  /**
   * Waits 100 ms doubling to 5 s (attempt n), or until the backend is reachable again, or stop.
   * While the backend is known reachable, at most PULL_RETRY_REACHABLE_MS: the failure was this
   * pull's own connection (after a failover each connection reconnects on its own), and no
   * "reachable again" event will come to cut a long wait short, so a 5 s wait would leave the
   * queue unserved for 5 s with Redis up.
   */
  private async backoff(attempt: number): Promise<void> {
    const ms = Math.min(this.o.queue.backendDown?.() === true ? 5_000 : PULL_RETRY_REACHABLE_MS, 100 * 2 ** Math.min(attempt - 1, 16));
    let off: (() => void) | undefined;
    await new Promise<void>((res) => {
      const t = setTimeout(res, ms);
      const wake = (): void => {
        clearTimeout(t);
        res();
      };
      off = this.o.queue.onBackendUp?.(wake);
      this.wakePuller = wake;
    });
    off?.();
    this.wakePuller = null;
  }

  private async pullLoop(): Promise<void> {
    let failures = 0;
    while (this.running) {
      const room = this.o.localCap - this.local.length;
      if (room <= 0) {
        this.watch.at('waiting for room in the local queue');
        await new Promise<void>((res) => (this.wakePuller = res));
        this.wakePuller = null;
        continue;
      }
      let got: Delivery[];
      try {
        this.watch.at('pulling', this.o.pullBlockMs);
        got = await this.o.queue.pull(this.o.id, room, this.o.pullBlockMs);
        failures = 0;
      } catch (e) {
        // bounded exponential backoff (100 ms doubling to 5 s), cut short when the backend is
        // back; logged once per streak (the queue itself logs the backend's reachability)
        failures++;
        if (failures === 1) this.respond.logFailure('pull', e);
        this.watch.at('backing off after a failed pull', 5_000);
        await this.backoff(failures);
        continue;
      }
      this.watch.at('admitting pulled requests');
      await this.admit(got).catch((e: unknown) => this.o.log?.(`admitting pulled requests failed: ${asSlackserveError(e).message}`));
    }
  }

  private async reclaim(): Promise<void> {
    if (!this.running) return;
    try {
      const got = await this.o.queue.reclaim(this.o.id, this.o.reclaimIdleMs, this.o.localCap);
      if (got.length > 0) {
        this.stats.reclaimed += got.length;
        this.o.log?.(`reclaimed ${got.length} request(s) left by a dead worker`);
        await this.admit(got);
      }
    } catch (e) {
      this.respond.logFailure('reclaim', e);
    }
  }

  /** Pulled requests enter the local queue, unless already expired or cancelled. */
  private async admit(got: readonly Delivery[]): Promise<void> {
    const now = this.o.clock();
    // cancelled and expired deliveries are rare: their lists (and the awaits that settle them) are
    // made only when there are some, since admit runs once per pull, often for one request
    let done: Delivery[] | undefined;
    let expired: Delivery[] | undefined;
    let replies: Promise<boolean>[] | undefined;
    for (const d of got) {
      const q = d.request;
      if (this.cancelled.delete(q.id)) {
        (done ??= []).push(d);
        continue;
      }
      if (q.deadlineMs <= now) {
        this.stats.expired++;
        (replies ??= []).push(this.respond.replyError(q.id, q.frontend, new SlackserveError('DEADLINE_EXPIRED', 'Request timeout expired: the deadline passed while it waited in the queue')));
        (expired ??= []).push(d);
        continue;
      }
      const key = this.seq++;
      // the bytes stay as they came (a view, however aligned): they are copied once, into the batch
      const count = q.data.byteLength / 4 / this.o.sampleSize;
      const r: QueuedRequest = { key, arrival: q.arrivalMs, deadline: q.deadlineMs, minAccuracy: q.minAccuracy, priority: q.priority, sheddable: q.sheddable, size: count };
      this.held.set(key, { delivery: d, count });
      this.arrivals.add(now, count);
      this.byId.set(q.id, r);
      this.local.push(r);
    }
    if (done) await this.respond.ack(done);
    if (expired && replies) await this.respond.settle(expired, await Promise.all(replies));
    this.o.metrics?.queueDepth.set({ where: 'local' }, this.local.length);
    this.kick();
  }

  private onCancel(id: string): void {
    const r = this.byId.get(id);
    if (!r) {
      // it may still arrive (pulled later, or reclaimed); bounded, since most such ids already ran
      this.cancelled.add(id);
      if (this.cancelled.size > 10_000) this.cancelled.delete(this.cancelled.values().next().value as string);
      return;
    }
    this.local.take([r]);
    const h = this.held.get(r.key) as Held;
    this.forget(id);
    void this.respond.ack([h.delivery]);
  }

  private forget(id: string): void {
    const r = this.byId.get(id);
    if (!r) return;
    this.byId.delete(id);
    this.held.delete(r.key);
  }

  /** Batches allowed at once now (the loop guard may lower it below the slots). */
  private slotLimit(): number {
    return this.o.slotLimit?.() ?? this.o.slots;
  }

  /** Schedules while an executor slot is free and requests wait. */
  private kick(): void {
    for (let limit = this.slotLimit(); this.free > 0 && this.local.length > 0 && this.o.slots - this.free < limit; limit = this.slotLimit()) {
      const now = this.o.clock();
      const exits = this.exitViews?.at(now);
      const { decision, state } = this.o.policy.decide(
        {
          now,
          queue: this.local,
          executor: { id: 0, loaded: [], workers: limit, running: this.o.slots - this.free },
          arrivalRate: this.arrivals.rate(now),
          ...(exits ? { exits } : {}),
        },
        this.state,
      );
      this.state = state;
      if (decision.drops.length > 0) this.shed(decision.drops);
      if (decision.dispatch === null) {
        if (decision.retryAt !== undefined) {
          this.holdUntil(decision.retryAt, now);
          break;
        }
        if (decision.drops.length === 0) break;
        continue;
      }
      const batch = this.fit(decision.dispatch);
      this.local.take(batch);
      this.free--;
      const running = this.o.slots - this.free;
      // the slot is free again as soon as the executor is done: replies and acks that follow
      // do not hold it (they are I/O, and the next batch can run meanwhile)
      let freed = false;
      const freeSlot = (): void => {
        if (freed) return;
        freed = true;
        this.free++;
        this.wakePuller?.();
        this.kick();
      };
      const p = this.execute(decision.dispatch.subnet, batch, running, freeSlot)
        .catch((e: unknown) => this.o.log?.(`batch on ${decision.dispatch?.subnet ?? '?'} failed: ${asSlackserveError(e).message}`))
        .finally(() => {
          this.inflight.delete(p);
          freeSlot();
        });
      this.inflight.add(p);
    }
    this.o.metrics?.queueDepth.set({ where: 'local' }, this.local.length);
    if (this.local.length < this.o.localCap) this.wakePuller?.();
  }

  /** The policy holds a batch back (queue delay): ask it again at `at`, unless asked sooner. */
  private holdUntil(at: number, now: number): void {
    if (this.holdTimer !== null && this.holdAt <= at) return;
    this.clearHold();
    this.holdAt = at;
    this.holdTimer = setTimeout(() => {
      this.holdTimer = null;
      this.holdAt = Infinity;
      if (this.running) this.kick();
    }, Math.max(0, at - now));
  }

  private clearHold(): void {
    if (this.holdTimer !== null) clearTimeout(this.holdTimer);
    this.holdTimer = null;
    this.holdAt = Infinity;
  }

  /** Requests may carry several images: keep the batch within the executor's maximum. */
  private fit(d: Dispatch): QueuedRequest[] {
    const out: QueuedRequest[] = [];
    let images = 0;
    for (const r of d.requests) {
      const n = (this.held.get(r.key) as Held).count;
      if (out.length > 0 && images + n > this.o.maxBatch) break;
      out.push(r);
      images += n;
    }
    return out;
  }

  private shed(drops: readonly Drop[]): void {
    this.local.take(drops.map((d) => d.request));
    const shed: Delivery[] = [];
    const replies: Promise<boolean>[] = [];
    for (const d of drops) {
      const h = this.held.get(d.request.key) as Held;
      const q = h.delivery.request;
      this.forget(q.id);
      shed.push(h.delivery);
      if (d.reason === 'expired') this.stats.expired++;
      else this.stats.dropped++;
      const msg = d.reason === 'expired' ? 'Request timeout expired: the deadline passed while it waited in the queue' : 'Request timeout expired: no subnet can finish it before its deadline (shed)';
      replies.push(this.respond.replyError(q.id, q.frontend, new SlackserveError('DEADLINE_EXPIRED', msg, { shed: d.reason === 'infeasible' })));
    }
    void Promise.all(replies)
      .then((sent) => this.respond.settle(shed, sent))
      .catch((e: unknown) => this.respond.logFailure(`ack of ${shed.length} request(s)`, e));
  }

  /**
   * Runs one batch and answers every request in it. Never rejects for a reply or ack that fails
   * (Redis gone mid-batch): those are logged and the loop goes on. `computeDone` is called once
   * the executor has finished with the batch.
   */
  private async execute(subnet: string, batch: readonly QueuedRequest[], running: number, computeDone: () => void): Promise<void> {
    const helds = batch.map((r) => this.held.get(r.key) as Held);
    for (const h of helds) this.forget(h.delivery.request.id);
    const start = this.o.clock();
    const images = concatBatch(
      helds.map((h) => h.delivery.request.data),
      (n) => this.o.executor.batchBuffer?.(n) ?? new Float32Array(n),
    );
    const total = images.length / this.o.sampleSize;
    // Triton's compute_input: copying the requests into the batch (the executor's run follows)
    const inputUs = Math.round((this.o.clock() - start) * 1000);
    const accuracy = this.accuracy.get(subnet) ?? -1;
    let ran: BatchRun;
    try {
      ran = await runBatch(this.o, { subnet, helds, images, total, start, accuracy, sendEarly: (reply, q) => this.respond.early(reply, q.frontend) });
    } catch (e) {
      computeDone();
      await this.respond.failAll(helds.map((h) => h.delivery), asSlackserveError(e));
      return;
    }
    computeDone();
    const answered = ran.finish();
    const end = this.o.clock();
    const missed = await this.respond.answerBatch({ subnet, helds, logits: ran.result.logits, answered, total, accuracy, start, end, inputUs });
    this.stats.batches++;
    this.stats.answered += helds.length;
    const m = this.o.metrics;
    if (m) {
      m.of(m.execCount, this.o.model, subnet).inc();
      m.of(m.inferenceCount, this.o.model).inc(total);
      m.of(m.computeDuration, this.o.model).observe((end - start) / 1000);
      m.of(m.batchSize, subnet).observe(total);
    }
    const tightest = Math.min(...helds.map((h) => h.delivery.request.deadlineMs - h.delivery.request.arrivalMs));
    this.state = this.o.policy.observe(this.state, { subnet, batch: total, latencyMs: end - start, tightestSloMs: tightest, missed, requests: helds.length, running });
  }
}

/** Epoch milliseconds with sub-millisecond resolution, comparable across processes on one host. */
export const epochMs = (): number => performance.timeOrigin + performance.now();
