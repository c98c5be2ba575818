/**
 * The door's slots shared per connection (src/api/fair-share.ts), driven as the guard drives it:
 * a call gets in below the limit, or past it when `mayPass` says so. The checks are counted by the
 * test itself (its own per-connection tallies), not read back from the class.
 */
import { describe, expect, it } from 'vitest';
import { ConnectionShares, FAIR_OVER_LIMIT } from '../../src/api/fair-share.js';

/** A door of `limit` calls with per-connection shares, and the test's own tallies. */
class Door {
  readonly shares: ConnectionShares<{ id: number }>;
  readonly conns = new Map<number, { id: number }>();
  readonly held = new Map<number, number>();
  total = 0;
  constructor(
    public limit: number,
    over?: number,
  ) {
    this.shares = new ConnectionShares(over);
  }

  conn(id: number): { id: number } {
    let c = this.conns.get(id);
    if (c === undefined) this.conns.set(id, (c = { id }));
    return c;
  }

  /** One call of connection `id`: true if let in. */
  arrive(id: number): boolean {
    const c = this.conn(id);
    const ok = this.total < this.limit || this.shares.mayPass(c, this.total, this.limit);
    if (!ok) return false;
    this.shares.enter(c);
    this.total++;
    this.held.set(id, (this.held.get(id) ?? 0) + 1);
    return true;
  }

  /** One call of connection `id` ends. */
  end(id: number): void {
    const n = this.held.get(id) ?? 0;
    if (n === 0) return;
    this.shares.leave(this.conn(id));
    this.total--;
    this.held.set(id, n - 1);
  }

  /** Connections holding calls, by the test's own count. */
  holding(): number {
    let n = 0;
    for (const v of this.held.values()) if (v > 0) n++;
    return n;
  }
}

/** A small seeded generator (mulberry32), so a failure repeats. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('ConnectionShares', () => {
  it('by default the shares take the door at most a quarter past its limit', () => {
    expect(FAIR_OVER_LIMIT).toBe(1.25);
    const d = new Door(20);
    for (let i = 0; i < 20; i++) expect(d.arrive(1)).toBe(true);
    for (let i = 0; i < 5; i++) expect(d.arrive(2)).toBe(true);
    expect(d.arrive(2)).toBe(false); // under its share (10), but the door holds 25
    expect(d.arrive(3)).toBe(false);
    expect(d.total).toBe(25);
  });

  it('a flood holding the whole limit: a second connection still gets its half, the flood gets nothing more (bound 2x)', () => {
    const d = new Door(20, 2);
    for (let i = 0; i < 20; i++) expect(d.arrive(1)).toBe(true);
    expect(d.arrive(1)).toBe(false); // full, and the flood holds more than its share (10 of 20)
    for (let i = 0; i < 10; i++) expect(d.arrive(2), `call ${i} of the quiet connection`).toBe(true);
    expect(d.arrive(2)).toBe(false); // its half taken: the door is full for it too
    expect(d.total).toBe(30);
    // as the flood's calls end, it is not let back in until the door is under its limit
    for (let i = 0; i < 10; i++) {
      d.end(1);
      expect(d.arrive(1)).toBe(false);
    }
    expect(d.total).toBe(20);
    expect(d.held.get(1)).toBe(10);
    // now each holds its share, and the door is full: nobody more
    expect(d.arrive(1)).toBe(false);
    expect(d.arrive(2)).toBe(false);
    expect(d.arrive(3)).toBe(true); // a third connection holds nothing: its share is 20 / 3
  });

  it('connections all under their share never need the exception: the door is then under its limit', () => {
    const d = new Door(12, 2);
    for (const id of [1, 2, 3]) for (let i = 0; i < 3; i++) expect(d.arrive(id)).toBe(true);
    expect(d.total).toBeLessThan(d.limit);
  });

  it('a stream of new connections cannot take the door past its bound (2x here)', () => {
    const d = new Door(10, 2);
    for (let i = 0; i < 10; i++) d.arrive(0);
    let admitted = 0;
    for (let id = 1; id <= 500; id++) if (d.arrive(id)) admitted++;
    expect(d.total).toBe(20);
    expect(admitted).toBe(10);
  });

  it('share: the limit over the connections holding calls, the asking one counted, at least 1', () => {
    const s = new ConnectionShares();
    const [a, b, c] = [{}, {}, {}];
    expect(s.share(a, 30)).toBe(30);
    s.enter(a);
    expect(s.share(a, 30)).toBe(30);
    expect(s.share(b, 30)).toBe(15);
    s.enter(b);
    expect(s.share(c, 30)).toBe(10);
    expect(s.share(c, 2)).toBe(1);
    s.leave(a);
    s.leave(a); // more leaves than enters: ignored
    expect(s.connections).toBe(1);
    expect(s.heldBy(a)).toBe(0);
  });

  it('random arrivals and ends (2,000 sequences, bounds 1, 1.25, 2): the door never holds more than its bound, and past its limit lets in exactly the connections under their equal share', () => {
    for (let seq = 0; seq < 2_000; seq++) {
      const r = rng(seq + 1);
      const over = [1, 1.25, 2][seq % 3]!;
      const d = new Door(1 + Math.floor(r() * 40), over);
      const nConns = 1 + Math.floor(r() * 8);
      // one connection floods (most arrivals), the others trickle
      for (let step = 0; step < 400; step++) {
        if (r() < 0.55) {
          const id = r() < 0.6 ? 0 : Math.floor(r() * nConns);
          const before = d.held.get(id) ?? 0;
          const full = d.total >= d.limit;
          const others = d.holding() - (before > 0 ? 1 : 0);
          const equalShare = Math.max(1, Math.floor(d.limit / (others + 1)));
          const totalBefore = d.total;
          const ok = d.arrive(id);
          if (!full) expect(ok).toBe(true);
          else expect(ok, `seq ${seq} step ${step}`).toBe(before < equalShare && totalBefore < over * d.limit);
        } else {
          const ids = [...d.held].filter(([, v]) => v > 0).map(([k]) => k);
          if (ids.length > 0) d.end(ids[Math.floor(r() * ids.length)]!);
        }
        expect(d.total).toBeLessThanOrEqual(Math.ceil(over * d.limit));
      }
    }
  });
});
