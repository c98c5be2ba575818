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
    const upstream = connect(this.upstreamPort, '127.0.0.1');
    for (const s of [client, upstream]) {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
      s.on('error', () => undefined);
    }
    client.pipe(upstream).pipe(client);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  cuts = 0;

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

  close(): void {
    for (const s of this.sockets) s.destroy();
    this.server.close();
  }
}
