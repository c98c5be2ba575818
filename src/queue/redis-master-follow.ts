/**
 * With Sentinels, every connection of one queue handle follows the master its most recent
 * (re)connect reached.
 *
 * Why: a connection learns of a failover only when its socket closes or when its own failover
 * detector hears a sentinel's `+switch-master`. A master that was demoted while still alive (the
 * sentinels took a slow one for down and promoted a replica) keeps its clients and answers them
 * as a master until the sentinels reconfigure it, seconds later; a connection whose detector
 * missed the message (it subscribes anew after every reconnect) stays on it, reading and writing
 * where nobody else does. (Suspected, not shown, in a worker stall under load; a later stall had
 * every connection on the new master: docs/queue.md.) So when one connection becomes ready on another
 * server than the handle last saw, the ones still ready elsewhere reconnect (and ask the
 * sentinels again). A reconnect always reaches the master the sentinels name now, so the newest
 * is the one to follow.
 */
import type { Socket } from 'node:net';
import type { Redis } from 'ioredis';

/** host:port the connection's socket is connected to; undefined without one. */
function remoteOf(c: Redis): string | undefined {
  const s = (c as unknown as { stream?: Socket }).stream;
  return s?.remoteAddress !== undefined && s.remotePort !== undefined ? `${s.remoteAddress}:${s.remotePort}` : undefined;
}

export class MasterFollower {
  private readonly conns = new Set<Redis>();
  private master: string | undefined;

  constructor(private readonly log: (line: string) => void) {}

  /** Follow `c` from now on (until it ends). */
  add(c: Redis): void {
    this.conns.add(c);
    c.on('ready', () => {
      this.conns.add(c);
      this.seen(c);
    });
    c.on('end', () => this.conns.delete(c));
  }

  private seen(c: Redis): void {
    const at = remoteOf(c);
    if (at === undefined || at === this.master) return;
    const before = this.master;
    this.master = at;
    if (before === undefined) return;
    let moved = 0;
    for (const o of this.conns) {
      if (o === c || o.status !== 'ready') continue;
      const there = remoteOf(o);
      if (there === undefined || there === at) continue;
      o.disconnect(true);
      moved++;
    }
    if (moved > 0) this.log(`redis master is now ${at}: ${moved} connection(s) still on ${before} reconnect to it`);
  }
}
