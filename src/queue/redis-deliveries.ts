/**
 * A worker's side of the Redis queue once entries reach it: decoding pulled or claimed stream
 * entries into deliveries (dropping unreadable and cancelled ones), what this handle holds, and
 * ending a delivery: acked (deleted from the stream) or released (back at the tail). Kept apart
 * from RedisQueue, which owns the connections and the blocking pulls and hands this class its
 * command path.
 */
import { SlackserveError } from '../errors.js';
import { asBuffer, decodeMeta, encodeMeta, ownBytes } from './codec.js';
import type { ScriptName } from './redis-lua.js';
import { F_DATA, F_META, field, type RawEntry } from './redis-wire.js';
import type { Delivery, QueuedInference } from './types.js';

/** Lua's unpack() limit is ~8,000 values; ack in chunks well below it. */
const ACK_CHUNK = 1_000;

class RedisDelivery implements Delivery {
  constructor(
    readonly request: QueuedInference,
    /** Stream entry id. */
    readonly entry: string,
    /** The consumer (worker) that holds it. */
    readonly worker: string,
  ) {}
}

/** What the deliveries side uses of its queue handle. */
export interface DeliveriesHost {
  /** The request stream's key, and its consumer group. */
  readonly key: string;
  readonly group: string;
  /** Whether this handle heard `id` cancelled (such a delivery is dropped, not run). */
  cancelled(id: string): boolean;
  script(name: ScriptName, args: (string | Buffer | number)[]): Promise<unknown>;
  /** The client-facing error for a Redis failure (the driver's text goes to the log). */
  fail(err: unknown): SlackserveError;
}

export class RedisDeliveries {
  /** Requests pulled through this handle, not yet acked or released: request id -> entry id. */
  readonly held = new Map<string, string>();
  /**
   * Entry ids no longer held whose ack or release is still on its way to Redis: they are still
   * pending in this worker's name, but not lost (RedisWorkers must not take them back).
   */
  private readonly ending = new Set<string>();
  /**
   * Entry ids whose ack failed (Redis unreachable): answered, yet still pending in our name.
   * Acked again by retryAcks() (the handle's upkeep), and never taken back as lost meanwhile.
   */
  private readonly unacked = new Set<string>();

  constructor(private readonly h: DeliveriesHost) {}

  /** Decodes pulled or claimed entries; drops (acks) cancelled and unreadable ones. */
  async accept(worker: string, raw: RawEntry[]): Promise<Delivery[]> {
    const out: RedisDelivery[] = [];
    const drop: string[] = [];
    for (const [idBuf, fields] of raw) {
      const entry = idBuf.toString();
      const meta = fields && field(fields, F_META);
      const data = fields && field(fields, F_DATA);
      if (!meta || !data) {
        drop.push(entry);
        continue;
      }
      let request: QueuedInference;
      try {
        request = decodeMeta(meta.toString(), ownBytes(data));
      } catch {
        drop.push(entry); // a poison entry would otherwise be redelivered forever
        continue;
      }
      if (this.h.cancelled(request.id)) {
        drop.push(entry);
        continue;
      }
      this.held.set(request.id, entry);
      out.push(new RedisDelivery(request, entry, worker));
    }
    // If this ack fails the dropped entries stay pending in our name; after our death whoever
    // reclaims them drops them again. Never lose the good deliveries over it.
    if (drop.length > 0) await this.ackEntries(drop).catch(() => undefined);
    return out;
  }

  async ack(deliveries: readonly Delivery[]): Promise<void> {
    const ds = this.own(deliveries);
    if (ds.length === 0) return;
    for (const d of ds) this.held.delete(d.request.id);
    const entries = ds.map((d) => d.entry);
    await this.whileEnding(ds, async () => {
      try {
        await this.ackEntries(entries);
      } catch (err) {
        for (const e of entries) this.unacked.add(e);
        throw err;
      }
    });
  }

  /** Whether `entry`, pending in our name but not held, is on its way out (not lost). */
  leaving(entry: string): boolean {
    return this.ending.has(entry) || this.unacked.has(entry);
  }

  /** How many entries leaving() is true of (at most). */
  get leavingCount(): number {
    return this.ending.size + this.unacked.size;
  }

  /** Acks again the entries whose ack failed; they stay remembered if it fails again. */
  async retryAcks(): Promise<void> {
    if (this.unacked.size === 0) return;
    const ids = [...this.unacked];
    await this.ackEntries(ids);
    for (const id of ids) this.unacked.delete(id);
  }

  /** Runs `end` (an ack or a release of `ds`) with their entries marked ending until it settles. */
  private async whileEnding(ds: readonly RedisDelivery[], end: () => Promise<void>): Promise<void> {
    for (const d of ds) this.ending.add(d.entry);
    try {
      await end();
    } finally {
      for (const d of ds) this.ending.delete(d.entry);
    }
  }

  async release(deliveries: readonly Delivery[]): Promise<void> {
    const { h } = this;
    const ds = this.own(deliveries);
    const byWorker = new Map<string, (string | Buffer)[]>();
    const cancelled: string[] = [];
    for (const d of ds) {
      this.held.delete(d.request.id);
      if (h.cancelled(d.request.id)) {
        cancelled.push(d.entry);
        continue;
      }
      let args = byWorker.get(d.worker);
      if (!args) byWorker.set(d.worker, (args = [h.key, h.group, d.worker]));
      args.push(d.entry, encodeMeta(d.request), asBuffer(d.request.data));
    }
    await this.whileEnding(ds, async () => {
      try {
        await Promise.all([...byWorker.values()].map((args) => h.script('ssRelease', args)));
      } catch (err) {
        throw h.fail(err);
      }
      if (cancelled.length > 0) await this.ackEntries(cancelled);
    });
  }

  /** Forgets deliveries without acking them (the worker answered them another way). */
  unhold(deliveries: readonly Delivery[]): void {
    for (const d of this.own(deliveries)) this.held.delete(d.request.id);
  }

  private async ackEntries(ids: readonly string[]): Promise<void> {
    const { h } = this;
    try {
      const jobs: Promise<unknown>[] = [];
      for (let i = 0; i < ids.length; i += ACK_CHUNK) jobs.push(h.script('ssAck', [h.key, h.group, ...ids.slice(i, i + ACK_CHUNK)]));
      await Promise.all(jobs);
    } catch (err) {
      throw h.fail(err);
    }
  }

  private own(deliveries: readonly Delivery[]): RedisDelivery[] {
    return deliveries.map((d) => {
      if (!(d instanceof RedisDelivery)) throw new SlackserveError('INTERNAL', 'delivery from another queue');
      return d;
    });
  }
}
