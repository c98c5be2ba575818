/**
 * `grpc.health.v1.Health/Watch` streams for the gRPC edge: each open Watch re-checks readiness
 * every `intervalMs` and writes only changes; an unknown service gets SERVICE_UNKNOWN and the call
 * stays open, as the health protocol says. `endAll` closes every stream (server stop).
 */
import type * as grpc from '@grpc/grpc-js';
import { INFERENCE_SERVICE, type HealthStatus } from './proto.js';

/** Health `service` names answered with the server's readiness. */
export const HEALTH_SERVICES: readonly string[] = ['', INFERENCE_SERVICE];

type WatchCall = grpc.ServerWritableStream<{ service?: string }, { status: HealthStatus }>;

export class HealthWatches {
  private readonly watchers = new Set<{ end(): void }>();

  constructor(
    /** The current status (never rejects). */
    private readonly status: () => Promise<HealthStatus>,
    private readonly intervalMs: number,
  ) {}

  watch(call: WatchCall): void {
    const service = call.request.service ?? '';
    let last: HealthStatus | undefined;
    let timer: NodeJS.Timeout | undefined;
    const watcher = {
      end: (): void => {
        if (timer) clearInterval(timer);
        timer = undefined;
        if (!call.writableEnded) call.end();
      },
    };
    const stopWatching = (): void => {
      if (timer) clearInterval(timer);
      timer = undefined;
      this.watchers.delete(watcher);
    };
    call.on('cancelled', stopWatching);
    call.on('error', stopWatching);
    this.watchers.add(watcher);
    if (!HEALTH_SERVICES.includes(service)) {
      // the health protocol: SERVICE_UNKNOWN, and the call stays open
      call.write({ status: 'SERVICE_UNKNOWN' });
      return;
    }
    const poll = async (): Promise<void> => {
      const s = await this.status();
      if (s === last || call.writableEnded || call.cancelled) return;
      last = s;
      try {
        call.write({ status: s });
      } catch {
        stopWatching();
      }
    };
    void poll();
    timer = setInterval(() => void poll(), this.intervalMs);
    timer.unref();
  }

  /** Ends every open Watch stream. */
  endAll(): void {
    for (const w of this.watchers) w.end();
    this.watchers.clear();
  }
}
