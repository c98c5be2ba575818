/**
 * BullMQ for job-shaped work: few, long, observable tasks (a latency profile, a trace replay, a
 * best-effort inference with no tight SLO) that want progress events, retries and inspection.
 * Never the per-request path: one BullMQ job per request saturated near 500-1,000 jobs/s here
 * (docs/queue.md), an order of magnitude below Redis Streams.
 *
 * Two BullMQ quirks (conventions.md) handled here:
 * - Priority 0 means "no priority" and runs *before* every prioritized job; Triton's 0 is the
 *   default level and 1 the highest. `bullPriority` maps Triton's meaning onto BullMQ's.
 * - Waiting jobs never expire (declined upstream): a job may carry an absolute deadline, checked
 *   when a worker picks it up, which then fails it (no retry) with DEADLINE_EXPIRED.
 */
import { Queue, QueueEvents, UnrecoverableError, Worker, type Job, type JobProgress, type RedisOptions } from 'bullmq';
import { SlackserveError } from '../errors.js';
import { DEFAULT_PREFIX } from './redis-queue.js';

export const JOB_KINDS = ['profile', 'replay', 'best-effort-infer'] as const;
export type JobKind = (typeof JOB_KINDS)[number];
export type { JobProgress };

/** BullMQ's lowest priority (its range is 1 = highest .. 2,097,151; 0 = none, runs first). */
const BULL_LOWEST = 2_097_151;

/** Triton priority (0 = default level, 1 = highest) -> BullMQ priority; default ranks last. */
export function bullPriority(triton: number): number {
  if (!Number.isInteger(triton) || triton < 0) throw new SlackserveError('INPUT_INVALID', `priority must be an integer >= 0, got ${triton}`);
  return triton === 0 ? BULL_LOWEST : Math.min(triton, BULL_LOWEST - 1);
}

export interface SubmitOptions {
  /** Triton meaning: 0 default, 1 highest. */
  readonly priority?: number;
  /** Absolute epoch ms; a job picked up later fails with DEADLINE_EXPIRED instead of running. */
  readonly deadlineMs?: number;
  /** Idempotency: a second submit with the same id is ignored by BullMQ. */
  readonly jobId?: string;
  /** Attempts in all (default 1: a failed profile or replay is rerun by a person, not blindly). */
  readonly attempts?: number;
}

/** What a job handler sees. */
export interface JobContext<D> {
  readonly id: string;
  readonly kind: JobKind;
  readonly data: D;
  /** Attempts already made before this one. */
  readonly attemptsMade: number;
}

export type ReportProgress = (p: JobProgress) => Promise<void>;

interface Envelope {
  readonly payload: unknown;
  readonly deadlineMs?: number;
}

/** ioredis options from a redis:// URL (BullMQ opens its own connections from these). */
function connectionOf(url: string): RedisOptions {
  const u = new URL(url);
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') throw new SlackserveError('CONFIG_INVALID', `not a redis URL: ${url}`);
  return {
    host: u.hostname || '127.0.0.1',
    port: u.port ? Number(u.port) : 6379,
    ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
    ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
    db: u.pathname.length > 1 ? Number(u.pathname.slice(1)) : 0,
    ...(u.protocol === 'rediss:' ? { tls: {} } : {}),
    protocol: 2, // BullMQ 6 was written against RESP2 replies; ioredis 6 defaults to RESP3
    maxRetriesPerRequest: null, // BullMQ requires it for its blocking connections
  };
}

export class JobQueues {
  private readonly connection: RedisOptions;
  private readonly prefix: string;
  private readonly queues = new Map<JobKind, Queue>();
  private readonly events = new Map<JobKind, Promise<QueueEvents>>();
  private readonly workers = new Set<Worker>();

  constructor(opts: { readonly redisUrl: string; readonly prefix?: string }) {
    this.connection = connectionOf(opts.redisUrl);
    // BullMQ keys: {prefix}:jobs:{kind}:... next to the request queue's {prefix}:requests.
    this.prefix = `${opts.prefix ?? DEFAULT_PREFIX}:jobs`;
  }

  private queue(kind: JobKind): Queue {
    let q = this.queues.get(kind);
    if (!q) this.queues.set(kind, (q = new Queue(kind, { connection: this.connection, prefix: this.prefix })));
    return q;
  }

  private queueEvents(kind: JobKind): Promise<QueueEvents> {
    let e = this.events.get(kind);
    if (!e) {
      const qe = new QueueEvents(kind, { connection: this.connection, prefix: this.prefix });
      e = qe.waitUntilReady().then(() => qe);
      this.events.set(kind, e);
    }
    return e;
  }

  /** Queues a job; resolves with its id. */
  async submitJob(kind: JobKind, data: unknown, opts: SubmitOptions = {}): Promise<string> {
    const envelope: Envelope = opts.deadlineMs === undefined ? { payload: data } : { payload: data, deadlineMs: opts.deadlineMs };
    const job = await this.queue(kind).add(kind, envelope, {
      priority: bullPriority(opts.priority ?? 0),
      attempts: opts.attempts ?? 1,
      ...(opts.jobId !== undefined ? { jobId: opts.jobId } : {}),
      // Bounded history: completed and failed jobs stay inspectable for a while, then go.
      removeOnComplete: { age: 3_600, count: 1_000 },
      removeOnFail: { age: 86_400, count: 1_000 },
    });
    return job.id!;
  }

  /** Progress events of every job of `kind` reported from now on (resolves once listening). */
  async onJobProgress(kind: JobKind, listener: (jobId: string, progress: JobProgress) => void): Promise<() => void> {
    const qe = await this.queueEvents(kind);
    const l = ({ jobId, data }: { jobId: string; data: JobProgress }): void => listener(jobId, data);
    qe.on('progress', l);
    return () => void qe.off('progress', l);
  }

  /** The job's result once it completes; rejects with its failure reason, or after timeoutMs. */
  async waitForJob(kind: JobKind, jobId: string, timeoutMs?: number): Promise<unknown> {
    const qe = await this.queueEvents(kind);
    const job = await this.queue(kind).getJob(jobId);
    if (!job) throw new SlackserveError('INPUT_INVALID', `no ${kind} job ${jobId}`);
    return job.waitUntilFinished(qe, timeoutMs);
  }

  /**
   * Runs `handler` for jobs of `kind` (up to `concurrency` at once) until the returned close().
   * A thrown SlackserveError with a non-retryable code fails the job without retries.
   */
  runJobWorker<D, R>(
    kind: JobKind,
    handler: (job: JobContext<D>, reportProgress: ReportProgress) => Promise<R>,
    opts: { readonly concurrency?: number } = {},
  ): { readonly ready: Promise<void>; close(): Promise<void> } {
    const worker = new Worker(
      kind,
      async (job: Job) => {
        const env = job.data as Envelope;
        if (env.deadlineMs !== undefined && Date.now() > env.deadlineMs)
          throw new UnrecoverableError('DEADLINE_EXPIRED: Request timeout expired');
        const ctx: JobContext<D> = { id: job.id!, kind, data: env.payload as D, attemptsMade: job.attemptsMade };
        try {
          return await handler(ctx, (p) => job.updateProgress(p));
        } catch (err) {
          if (err instanceof SlackserveError && err.code !== 'BACKEND_UNAVAILABLE' && err.code !== 'INTERNAL')
            throw new UnrecoverableError(`${err.code}: ${err.message}`);
          throw err;
        }
      },
      { connection: this.connection, prefix: this.prefix, concurrency: opts.concurrency ?? 1 },
    );
    worker.on('error', () => {}); // connection trouble: BullMQ reconnects; failures surface per job
    this.workers.add(worker);
    return {
      ready: worker.waitUntilReady().then(() => undefined),
      close: async () => {
        this.workers.delete(worker);
        await worker.close();
      },
    };
  }

  async close(): Promise<void> {
    const events = await Promise.allSettled([...this.events.values()]);
    await Promise.allSettled([
      ...[...this.workers].map((w) => w.close()),
      ...[...this.queues.values()].map((q) => q.close()),
      ...events.map((e) => (e.status === 'fulfilled' ? e.value.close() : undefined)),
    ]);
    this.workers.clear();
    this.queues.clear();
    this.events.clear();
  }
}
