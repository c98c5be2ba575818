/**
 * The reply side of the Redis queue: workers send answers to the frontend that holds the call,
 * frontends read their own reply stream (`{p}:replies:{frontend}`, the default transport) or
 * channel (`replyTransport` 'pubsub'). Kept apart from the request side (RedisQueue: enqueue,
 * pull, ack, reclaim), which owns the connections and hands this class what it needs.
 */
import type { Redis } from 'ioredis';
import type { SlackserveError } from '../errors.js';
import { asBuffer, encodeReplyMeta } from './codec.js';
import type { ScriptName } from './redis-lua.js';
import { frame, type RawEntry, sleep, streamEntries, unfields, unframe } from './redis-wire.js';
import type { InferenceReply } from './types.js';

export type ReplyTransport = 'stream' | 'pubsub';

/** A reply stream outlives its frontend's last refresh by this much, then expires. */
const REPLY_TTL_MS = 30_000;

/** What the reply side uses of its queue handle. */
export interface RepliesHost {
  /** The auto-pipelined command connection. */
  readonly cmd: Redis;
  readonly transport: ReplyTransport;
  readonly prefix: string;
  /** Approximate cap of a reply stream (MAXLEN ~). */
  readonly replyMaxLen: number;
  /** A new connection (a stream reader blocks on its own). */
  connection(): Redis;
  /** The handle's shared pub/sub connection (its messages on reply channels come to fromChannel). */
  subscriber(): Redis;
  /** The client-facing error for a Redis failure (the driver's text goes to the log). */
  fail(err: unknown): SlackserveError;
  /** Runs one of the queue's Lua scripts on the command connection. */
  script(name: ScriptName, args: (string | Buffer | number)[]): Promise<unknown>;
  /** Starts the handle's upkeep timer (which calls maintain()). */
  ensureTimer(): void;
  /** The final answer (or an error) for request `id` arrived: it can no longer be cancelled or lost. */
  answered(id: string): void;
  closed(): boolean;
}

interface ReplySub {
  readonly listeners: Set<(r: InferenceReply) => void>;
  /** Stream transport: last entry id read (XREAD cursor). */
  cursor: string;
  stop(): void;
}

/** Replies to one frontend waiting for this turn's flush. */
interface Outgoing {
  readonly replies: [string, Uint8Array | undefined][];
  readonly done: Array<{ resolve: () => void; reject: (e: unknown) => void }>;
}

export class RedisReplies {
  private readonly subs = new Map<string, ReplySub>();
  /** Worker: replies of this turn, per frontend (see send()). */
  private readonly outgoing = new Map<string, Outgoing>();

  constructor(private readonly h: RepliesHost) {}

  key(frontend: string): string {
    return `${this.h.prefix}:replies:${frontend}`;
  }

  /**
   * Replies issued in the same JS turn to the same frontend (a worker answering a batch) go out
   * as one stream entry or one message: a worker's, Redis's and the frontend's cost per reply
   * fall with the batch, at no added latency (flushed in a microtask, not on a timer).
   */
  send(r: InferenceReply, frontend: string): Promise<void> {
    let o = this.outgoing.get(frontend);
    if (!o) {
      this.outgoing.set(frontend, (o = { replies: [], done: [] }));
      if (this.outgoing.size === 1) queueMicrotask(() => this.flush());
    }
    o.replies.push([encodeReplyMeta(r), r.ok ? r.logits : undefined]);
    const out = o;
    return new Promise((resolve, reject) => out.done.push({ resolve, reject }));
  }

  private flush(): void {
    const batch = [...this.outgoing];
    this.outgoing.clear();
    for (const [frontend, o] of batch) {
      let sent: Promise<unknown>;
      if (this.h.transport === 'pubsub') sent = this.h.cmd.publish(this.key(frontend), frame(o.replies));
      else {
        // NOMKSTREAM: the plain write never makes a stream. Nil back means the stream is missing:
        // the frontend is gone, or Redis restarted without its data and the frontend has not made
        // its stream again yet. Either way the reply goes in with the stream created and a TTL
        // (ssReplyCreate): a live frontend reads it and keeps the stream, a gone one's expires.
        const key = this.key(frontend);
        const args: (string | number | Buffer)[] = [key, 'NOMKSTREAM', 'MAXLEN', '~', this.h.replyMaxLen, '*'];
        const fieldsAt = args.length;
        for (const [meta, logits] of o.replies) {
          args.push('m', meta);
          if (logits) args.push('l', asBuffer(logits));
        }
        // the fields are copied only on the rare path (a missing stream)
        sent = this.h.cmd
          .call('XADD', args)
          .then((id) => (id === null ? this.h.script('ssReplyCreate', [key, this.h.replyMaxLen, REPLY_TTL_MS, ...args.slice(fieldsAt)]) : id));
      }
      sent.then(
        () => o.done.forEach((d) => d.resolve()),
        (err: unknown) => o.done.forEach((d) => d.reject(this.h.fail(err))),
      );
    }
  }

  /** An empty reply stream (XADD then trim to 0: it exists, holds nothing); its id is the cursor. */
  private async createStream(key: string): Promise<string> {
    const id = String(await this.h.cmd.call('XADD', key, 'MAXLEN', '0', '*', 'h', '1'));
    await this.h.cmd.pexpire(key, REPLY_TTL_MS);
    return id;
  }

  /**
   * A reply stream this frontend reads has gone (Redis restarted without its data): made again
   * with a marker entry the reader skips, not trimmed to nothing as createStream does, because a
   * worker may have written a reply into it since (ssReplyCreate) that the reader has not read.
   */
  private async remakeStream(key: string): Promise<void> {
    await this.h.cmd.call('XADD', key, 'MAXLEN', '~', this.h.replyMaxLen, '*', 'h', '1');
    await this.h.cmd.pexpire(key, REPLY_TTL_MS);
  }

  /** Frontend: `onReply` gets every reply to `frontend` from now on; resolves once listening. */
  async subscribe(frontend: string, onReply: (r: InferenceReply) => void): Promise<() => Promise<void>> {
    const listener = (r: InferenceReply): void => onReply(r);
    let s = this.subs.get(frontend);
    if (!s) {
      try {
        s = this.h.transport === 'stream' ? await this.readStream(frontend) : await this.listenChannel(frontend);
      } catch (err) {
        throw this.h.fail(err);
      }
      this.subs.set(frontend, s);
    }
    s.listeners.add(listener);
    const sub = s;
    return async () => {
      sub.listeners.delete(listener);
      if (sub.listeners.size > 0 || this.subs.get(frontend) !== sub) return;
      this.subs.delete(frontend);
      sub.stop();
      if (this.h.closed()) return;
      if (this.h.transport === 'stream') await this.h.cmd.del(this.key(frontend)).catch(() => 0);
      else await this.h.subscriber().unsubscribe(this.key(frontend)).catch(() => 0);
    };
  }

  /** Stream transport: a dedicated connection XREADs the frontend's stream from creation on. */
  private async readStream(frontend: string): Promise<ReplySub> {
    const key = this.key(frontend);
    const conn = this.h.connection();
    let stopped = false;
    const s: ReplySub = {
      listeners: new Set(),
      cursor: await this.createStream(key).catch((e: unknown) => {
        conn.disconnect();
        throw e;
      }),
      stop: () => {
        stopped = true;
        conn.disconnect();
      },
    };
    this.h.ensureTimer();
    void (async () => {
      while (!stopped) {
        let res: unknown;
        try {
          res = await conn.callBuffer('XREAD', 'COUNT', 1024, 'BLOCK', 5_000, 'STREAMS', key, s.cursor);
        } catch {
          if (!stopped) await sleep(100); // Redis away: ioredis reconnects; try again
          continue;
        }
        for (const [id, fields] of streamEntries(res)) {
          s.cursor = id.toString();
          if (fields) for (const r of unfields(fields)) this.deliver(s, r);
        }
      }
    })();
    return s;
  }

  /** Pub/sub transport: the shared subscriber connection listens on the frontend's channel. */
  private async listenChannel(frontend: string): Promise<ReplySub> {
    await this.h.subscriber().subscribe(this.key(frontend));
    return { listeners: new Set(), cursor: '0', stop: () => {} };
  }

  /** A message on the subscriber connection that is not a cancellation: replies to one of ours. */
  fromChannel(channel: string, message: Buffer): void {
    const s = this.subs.get(channel.slice(this.h.prefix.length + ':replies:'.length));
    if (s) for (const r of unframe(message)) this.deliver(s, r);
  }

  private deliver(s: ReplySub, r: InferenceReply): void {
    if (!r.ok || r.final) this.h.answered(r.id); // no cancel can remove it any more
    for (const l of s.listeners) {
      try {
        l(r);
      } catch {
        // a listener's bug must not stop the reader loop
      }
    }
  }

  /**
   * Upkeep (on the handle's timer): each reply stream read here keeps its TTL, is recreated if it
   * expired (not while a reconnect's restart check runs: it must see whether the stream survived),
   * and loses what this frontend has read.
   */
  maintain(checkingRestart: boolean): Promise<unknown>[] {
    if (this.h.transport !== 'stream') return [];
    const jobs: Promise<unknown>[] = [];
    for (const [frontend, s] of this.subs) {
      const key = this.key(frontend);
      jobs.push(
        this.h.cmd.pexpire(key, REPLY_TTL_MS).then((ok) => (ok === 0 && !checkingRestart ? this.remakeStream(key) : undefined)),
        this.h.cmd.call('XTRIM', key, 'MINID', '~', s.cursor),
      );
    }
    return jobs;
  }

  /**
   * Of `ids`, those with an answer (a final reply or an error) in a reply stream read here, past
   * what this frontend has read: the reader will deliver them, so they are not lost. Read straight
   * from Redis, so the answer does not wait for the reader, which after a failover may still be
   * reconnecting. Pub/sub keeps nothing to read: none are found.
   */
  async answeredAmong(ids: readonly string[]): Promise<Set<string>> {
    const found = new Set<string>();
    if (this.h.transport !== 'stream' || ids.length === 0) return found;
    const wanted = new Set(ids);
    for (const [frontend, s] of [...this.subs]) {
      // xrangeBuffer, not callBuffer: auto-pipelined, callBuffer loses its command name (ioredis)
      const res = (await this.h.cmd.xrangeBuffer(this.key(frontend), `(${s.cursor}`, '+')) as unknown as RawEntry[];
      for (const [, fields] of res) {
        if (fields) for (const r of unfields(fields)) if (wanted.has(r.id) && (!r.ok || r.final)) found.add(r.id);
      }
    }
    return found;
  }

  /** Stops every reader; returns the reply stream keys to delete (stream transport). */
  stopAll(): string[] {
    for (const s of this.subs.values()) s.stop();
    const keys = this.h.transport === 'stream' ? [...this.subs.keys()].map((f) => this.key(f)) : [];
    this.subs.clear();
    return keys;
  }
}
