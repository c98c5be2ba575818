/** What a replay records: one row per request, and what the threads report while running. */

export type Outcome = 'ok' | 'error';

export interface RequestRecord {
  /** Index of the request in the (scaled) trace. */
  readonly i: number;
  /** Scheduled send time, ms from the replay start. */
  readonly scheduledMs: number;
  /** How late the send was against the schedule (client falling behind), ms. */
  readonly behindMs: number;
  /** Send to final answer (or error), ms. */
  readonly latencyMs: number;
  readonly sloMs: number;
  readonly sloClass: string;
  readonly outcome: Outcome;
  /** gRPC status name for errors (UNAVAILABLE, INVALID_ARGUMENT...), 'OK' otherwise. */
  readonly status: string;
  readonly message: string;
  readonly subnet: string;
  readonly exit: string;
  /** The first image's predicted class and label (the CSV's at-a-glance columns). */
  readonly predicted: number;
  readonly label: number;
  /** Images the request carried, and how many of them were answered with their label (0 for errors). */
  readonly images: number;
  readonly correct: number;
  readonly queueUs: number;
  readonly computeUs: number;
  readonly downgraded: boolean;
  readonly deadlineAnswer: boolean;
  /** The server's own verdict (answer finished before the deadline it computed). */
  readonly serverDeadlineMet: boolean;
}

export interface ThreadProgress {
  readonly sent: number;
  readonly done: number;
  readonly met: number;
  readonly maxBehindMs: number;
}

/** What a run measured about the client itself (the replay process), for the client-limited rule. */
export interface ClientStats {
  /** Sender threads. */
  readonly threads: number;
  /** How calls were made ('grpc-js' or 'h2'). */
  readonly transport: string;
  /** The client's scheduling class: 'realtime' after `--client-priority realtime` (SCHED_RR), else 'normal'. */
  readonly priority: 'realtime' | 'normal';
  /** Requests sent. */
  readonly sent: number;
  /** CPU of the whole client process (all threads: senders, main, GC, libuv) from the schedule's start to the last answer, µs. */
  readonly cpuUs: number;
  /** Wall time from the schedule's start to the last answer, s. */
  readonly wallS: number;
  /** The busiest sender thread's event-loop utilization while it was sending (schedule start to its last send, 0..1). */
  readonly threadBusyMax: number;
  /** Cores of this machine (os.availableParallelism). */
  readonly machineCores: number;
  /**
   * Whether the client's CPU competes with the server's: the target is on this machine and the
   * server is not in the client's process (then the CPU would not be the client's alone).
   */
  readonly sharesMachine: boolean;
  /** The server runs in the client's process, so `cpuUs` includes the server's CPU. */
  readonly cpuIncludesServer: boolean;
}

/** A request as the replay threads receive it. */
export interface ReplayRequest {
  readonly i: number;
  readonly t_ms: number;
  readonly slo_ms: number;
  readonly min_accuracy: number | null;
  readonly priority: number;
  readonly class: string;
  /** Index of the test image it sends. */
  readonly image: number;
}
