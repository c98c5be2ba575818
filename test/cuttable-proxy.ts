/**
 * A TCP proxy to a Redis (127.0.0.1:6379 by default) that can cut every connection and refuse new
 * ones for a while: a Redis outage as the process behind it sees it, without touching the Redis
 * other tests share.
 */
import { createServer, connect, type Server, type Socket } from 'node:net';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export class CuttableProxy {
  private readonly sockets = new Set<Socket>();
  private refusing = false;
  readonly server: Server = createServer((client) => {
    if (this.refusing) {
      client.destroy();
      return;
    }
    if (Date.now() < this.holdNewUntil) {
      // accepted, then left unanswered for holdMs: a stopped server's listening socket
      client.pause();
      const held = setTimeout(() => {
        client.resume();
        this.forward(client);
      }, this.holdMs);
      client.on('close', () => clearTimeout(held));
      client.on('error', () => undefined);
      return;
    }
    this.forward(client);
  });

  private forward(client: Socket): void {
    const upstream = connect(this.upstreamPort, '127.0.0.1');
    for (const s of [client, upstream]) {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
      s.on('error', () => undefined);
    }
    upstream.on('connect', () => this.byUpstreamPort.set(upstream.localPort!, [client, upstream]));
    upstream.on('close', () => this.byUpstreamPort.delete(upstream.localPort!));
    client.pipe(upstream).pipe(client);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  }
  cuts = 0;
  /** Connections accepted before this epoch ms are held holdMs before they reach Redis. */
  private holdNewUntil = 0;
  private holdMs = 0;
  /** Each connection's pair of sockets, by the local port Redis sees it come from (CLIENT LIST's addr). */
  private readonly byUpstreamPort = new Map<number, [Socket, Socket]>();

  constructor(private readonly upstreamPort = 6379) {}

  listen(): Promise<number> {
    return new Promise((res) => this.server.listen(0, '127.0.0.1', () => res((this.server.address() as { port: number }).port)));
  }

  /** Destroys every connection and refuses new ones for `ms`. */
  async cut(ms: number): Promise<void> {
    this.cuts++;
    this.refusing = true;
    for (const s of this.sockets) s.destroy();
    await sleep(ms);
    this.refusing = false;
  }

  /** Whether Redis sees a connection of this proxy's from `port` (CLIENT LIST also lists other clients'). */
  proxies(port: number): boolean {
    return this.byUpstreamPort.has(port);
  }

  /**
   * Freezes the one connection Redis sees from `port` for `ms`: nothing passes either way, its
   * sockets stay open (a frozen server as its client sees it); other connections are untouched.
   */
  async freeze(port: number, ms: number): Promise<void> {
    const pair = this.byUpstreamPort.get(port);
    if (!pair) throw new Error(`no proxied connection from port ${port}`);
    for (const s of pair) s.pause();
    await sleep(ms);
    for (const s of pair) s.resume();
  }

  /** Freezes every connection open now for `ms` (see freeze); connections made meanwhile pass. */
  async freezeAll(ms: number): Promise<void> {
    const pairs = [...this.byUpstreamPort.values()];
    for (const pair of pairs) for (const s of pair) s.pause();
    await sleep(ms);
    for (const pair of pairs) for (const s of pair) s.resume();
  }

  /** For `ms`, new connections are accepted but reach Redis only `holdMs` later. */
  holdNew(ms: number, holdMs: number): void {
    this.holdNewUntil = Date.now() + ms;
    this.holdMs = holdMs;
  }

  close(): void {
    for (const s of this.sockets) s.destroy();
    this.server.close();
  }
}
