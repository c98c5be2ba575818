/**
 * The executor: ONE supernet held by a small pool of worker threads, each with its own
 * onnxruntime sessions, running any subnet per batch. `run` validates the batch, hands it to an
 * idle thread (FIFO when all are busy), and resolves with the final logits; in staged mode every
 * ramp's logits are reported through `onStage` while the batch continues to the end.
 *
 * A thread that dies (an exception, OOM, fault injection) fails only its in-flight batch, with a
 * clear error, and is replaced; queued and later batches keep being served. Threads are never
 * terminated while onnxruntime runs in them: terminating a worker in the middle of a native
 * onnxruntime call aborts the whole process (measured here), so `close` drains first and a native
 * crash is left to process-level isolation (separate worker processes).
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { SlackserveError } from '../errors.js';
import { Catalogue } from '../supernet/catalogue.js';
import type { FromThread, RunMode, ThreadInit, ToThread } from './executor-protocol.js';
import { checkBatch } from './input-check.js';
import type { Encoding } from '../supernet/manifest-types.js';
import type { SessionSettings } from './session.js';

export interface ExecutorSettings extends SessionSettings {
  /** Worker threads, each holding its own sessions of the supernet. */
  readonly threads: number;
  readonly maxBatch: number;
  /** Which encoding of the supernet the threads run (default: branched). */
  readonly encoding?: Encoding;
}

export interface RunOptions {
  readonly mode?: RunMode;
  /**
   * Staged mode: called after each stage with that stage's ramp logits (rows x classes). With
   * `saveCompute`, `rows` gives the original row of each logits row, and the callback returns
   * the original rows that exited there: they are dropped from the later stages.
   */
  readonly onStage?: (stage: string, rampLogits: Float32Array, rows?: Int32Array) => readonly number[] | void;
  /** Staged mode: drop rows the callback reports exited (saves compute, loses their feedback). */
  readonly saveCompute?: boolean;
  /** The caller already checked every value is finite (the API edge does): skip that scan. */
  readonly checked?: boolean;
}

export interface RunResult {
  readonly logits: Float32Array;
  readonly ramps: readonly { readonly stage: string; readonly logits: Float32Array }[];
  /** Time inside the worker thread, milliseconds. */
  readonly computeMs: number;
  readonly batch: number;
  readonly thread: number;
  /** saveCompute runs: the original row of each row of `logits` (the rows that ran to the end). */
  readonly rows?: Int32Array;
}

interface Job {
  readonly id: number;
  readonly subnetId: string;
  readonly mode: RunMode;
  readonly images: Float32Array;
  readonly batch: number;
  readonly onStage: RunOptions['onStage'];
  readonly saveCompute: boolean;
  readonly exited: Set<number>;
  readonly ramps: { stage: string; logits: Float32Array }[];
  readonly resolve: (r: RunResult) => void;
  readonly reject: (e: Error) => void;
}

interface Thread {
  readonly index: number;
  readonly worker: Worker;
  ready: boolean;
  job: Job | null;
}

/** The compiled thread entry; under vitest (TypeScript sources) the built copy in dist/ is used. */
function threadEntry(): URL {
  const here = new URL('./executor-thread.js', import.meta.url);
  if (!import.meta.url.endsWith('.ts')) return here;
  const built = new URL('../../dist/runtime/executor-thread.js', import.meta.url);
  if (!existsSync(fileURLToPath(built)))
    throw new SlackserveError('INTERNAL', 'dist/runtime/executor-thread.js is missing: run `npm run build` first');
  return built;
}

export class Executor {
  private readonly threads: Thread[] = [];
  private readonly waiting: Job[] = [];
  private nextId = 1;
  private closed = false;
  private readonly crashNext = new Set<number>();
  /** Set when a dead thread could not be replaced; later runs fail fast once no thread is left. */
  private startFailure: SlackserveError | null = null;
  private drained: (() => void) | null = null;
  /** Threads replaced after dying, for metrics and tests. */
  restarts = 0;
  /**
   * Batch slots: shared memory of maxBatch images each, given to every thread once at its start.
   * A batch written into a slot travels as the slot's index: no buffer is transferred or
   * allocated per batch (a transferred buffer counts as a new external allocation to V8 on each
   * side, which triggered a mark-compact every ~100 ms under load).
   */
  private readonly slots: SharedArrayBuffer[];
  private readonly slotOf = new Map<SharedArrayBuffer, number>();
  private readonly freeSlots: number[];

  private constructor(
    readonly catalogue: Catalogue,
    readonly settings: ExecutorSettings,
  ) {
    const slotBytes = settings.maxBatch * catalogue.sampleSize * 4;
    this.slots = Array.from({ length: 2 * settings.threads + 2 }, () => new SharedArrayBuffer(slotBytes));
    this.slots.forEach((sab, i) => this.slotOf.set(sab, i));
    this.freeSlots = this.slots.map((_, i) => i);
  }

  static async start(dir: string, settings: ExecutorSettings): Promise<Executor> {
    const ex = new Executor(Catalogue.load(dir), settings);
    ex.catalogue.encodingFiles(settings.encoding ?? 'branched'); // fail here, not in a thread
    await Promise.all(Array.from({ length: settings.threads }, (_, i) => ex.spawn(i)));
    return ex;
  }

  private spawn(index: number): Promise<void> {
    const { intraOpThreads, executionProvider, spinning } = this.settings;
    const init: ThreadInit = {
      dir: this.catalogue.dir,
      settings: { intraOpThreads, executionProvider, spinning: spinning ?? false },
      encoding: this.settings.encoding ?? 'branched',
      slots: this.slots,
    };
    const worker = new Worker(threadEntry(), { workerData: init });
    const thread: Thread = { index, worker, ready: false, job: null };
    this.threads[index] = thread;
    return new Promise((resolveReady, rejectReady) => {
      worker.on('message', (msg: FromThread) => {
        if (msg.type === 'ready') {
          thread.ready = true;
          resolveReady();
          this.dispatch();
        } else if (msg.type === 'init-error') {
          rejectReady(new SlackserveError(msg.code, `executor thread ${index} could not start: ${msg.message}`));
        } else this.onThreadMessage(thread, msg);
      });
      worker.on('error', (err) => this.onThreadDeath(thread, err.message));
      worker.on('exit', (code) => {
        if (!thread.ready) rejectReady(new SlackserveError('INTERNAL', `executor thread ${index} exited with code ${code} while starting`));
        this.onThreadDeath(thread, `exit code ${code}`);
      });
    });
  }

  private onThreadMessage(thread: Thread, msg: Exclude<FromThread, { type: 'ready' | 'init-error' }>): void {
    const job = thread.job;
    if (!job || job.id !== msg.id) return;
    if (msg.type === 'stage') {
      job.ramps.push({ stage: msg.stage, logits: msg.logits });
      let out: readonly number[] | void = undefined;
      try {
        out = job.onStage?.(msg.stage, msg.logits, msg.rows);
      } finally {
        if (job.saveCompute) {
          // the thread waits for this answer before its next stage
          for (const r of out ?? []) job.exited.add(r);
          const keep = Int32Array.from((msg.rows ?? new Int32Array(0)).filter((r) => !job.exited.has(r)));
          thread.worker.postMessage({ type: 'keep', id: job.id, rows: keep } satisfies ToThread);
        }
      }
      return;
    }
    thread.job = null;
    if (this.closed && this.threads.every((t) => !t.job)) this.drained?.();
    if (msg.type === 'done')
      job.resolve({ logits: msg.logits, ramps: job.ramps, computeMs: msg.computeMs, batch: job.batch, thread: thread.index, ...(msg.rows ? { rows: msg.rows } : {}) });
    else job.reject(new SlackserveError(msg.code, msg.message));
    this.dispatch();
  }

  private onThreadDeath(thread: Thread, why: string): void {
    if (this.threads[thread.index] !== thread) return; // already replaced ('error' is followed by 'exit')
    const job = thread.job;
    thread.job = null;
    thread.ready = false;
    job?.reject(
      new SlackserveError('INTERNAL', `executor thread ${thread.index} died (${why}) while running a batch of ${job.batch} on ${job.subnetId}; the batch failed`, {
        thread: thread.index,
      }),
    );
    if (this.closed) {
      if (this.threads.every((t) => !t.job)) this.drained?.();
      return;
    }
    this.restarts++;
    this.spawn(thread.index).catch((err: Error) => {
      // cannot restart: fail everything queued rather than hang, and refuse new work if no thread is left
      this.startFailure = new SlackserveError('BACKEND_UNAVAILABLE', `executor thread ${thread.index} could not be restarted: ${err.message}`);
      if (!this.threads.some((t) => t.ready)) for (const j of this.waiting.splice(0)) j.reject(this.startFailure);
    });
  }

  /**
   * A Float32Array of `floats` values to fill with a batch and pass to `run` (exactly once): a view
   * on a free batch slot, so a batch allocates nothing. The slot is the batch's until its run
   * settles, so two batches never share one; with every slot taken, a fresh array.
   */
  batchBuffer(floats: number): Float32Array {
    const slot = floats <= this.settings.maxBatch * this.catalogue.sampleSize ? this.freeSlots.pop() : undefined;
    if (slot === undefined) return new Float32Array(floats);
    return new Float32Array(this.slots[slot] as SharedArrayBuffer, 0, floats);
  }

  /** The slot a batch's images live in, if any. */
  private slotIndex(images: Float32Array): number | undefined {
    return images.buffer instanceof SharedArrayBuffer ? this.slotOf.get(images.buffer) : undefined;
  }

  /** The batch in `images` is settled (answered, failed or refused): its slot is free again. */
  private releaseSlot(images: Float32Array): void {
    const slot = this.slotIndex(images);
    if (slot !== undefined && !this.freeSlots.includes(slot)) this.freeSlots.push(slot);
  }

  /** Runs one batch on a subnet. Takes ownership of `images` (its buffer may be transferred). */
  run(images: Float32Array, subnetId: string, options: RunOptions = {}): Promise<RunResult> {
    const refuse = (err: unknown): Promise<never> => {
      this.releaseSlot(images);
      return Promise.reject(err);
    };
    if (this.closed) return refuse(new SlackserveError('BACKEND_UNAVAILABLE', 'executor is closed'));
    if (this.startFailure && !this.threads.some((t) => t.ready)) return refuse(this.startFailure);
    let batch: number;
    try {
      this.catalogue.subnet(subnetId);
      batch = checkBatch(images, this.catalogue.sampleSize, this.settings.maxBatch, options.checked !== true);
    } catch (err) {
      return refuse(err);
    }
    return new Promise<RunResult>((resolve, reject) => {
      this.waiting.push({
        id: this.nextId++,
        subnetId,
        mode: options.mode ?? 'whole',
        images,
        batch,
        onStage: options.onStage,
        saveCompute: options.saveCompute === true && (options.mode ?? 'whole') === 'staged',
        exited: new Set(),
        ramps: [],
        // however the batch settles, its slot is free again (only then: the thread reads it until)
        resolve: (r) => {
          this.releaseSlot(images);
          resolve(r);
        },
        reject: (e) => {
          this.releaseSlot(images);
          reject(e);
        },
      });
      this.dispatch();
    });
  }

  private dispatch(): void {
    for (const thread of this.threads) {
      if (this.waiting.length === 0) return;
      if (!thread.ready || thread.job) continue;
      const job = this.waiting.shift() as Job;
      thread.job = job;
      const crash = this.crashNext.delete(thread.index);
      const base = { type: 'run', id: job.id, subnetId: job.subnetId, mode: job.mode, ...(job.saveCompute ? { saveCompute: true } : {}), ...(crash ? { crash } : {}) } as const;
      const slot = this.slotIndex(job.images);
      if (slot !== undefined) {
        thread.worker.postMessage({ ...base, slot, floats: job.images.length } satisfies ToThread);
        continue;
      }
      // Transfer the buffer when the array owns all of it; a view into a larger buffer, or
      // someone else's SharedArrayBuffer (not transferable), is copied.
      const buf = job.images.buffer;
      const own = buf instanceof ArrayBuffer && job.images.byteOffset === 0 && job.images.byteLength === buf.byteLength;
      const images = own ? job.images : job.images.slice();
      thread.worker.postMessage({ ...base, images } satisfies ToThread, [images.buffer as ArrayBuffer]);
    }
  }

  /** Batches queued behind busy threads. */
  get queued(): number {
    return this.waiting.length;
  }

  get idleThreads(): number {
    return this.threads.filter((t) => t.ready && !t.job).length;
  }

  /** Fault injection: thread `index` dies as soon as it is handed its next batch. */
  crashOnNextBatch(index: number): void {
    if (!this.threads[index]) throw new SlackserveError('INPUT_INVALID', `no executor thread ${index}`);
    this.crashNext.add(index);
  }

  /** Stops accepting work, fails queued batches, waits for running ones, then ends the threads. */
  async close(): Promise<void> {
    this.closed = true;
    for (const j of this.waiting.splice(0)) j.reject(new SlackserveError('BACKEND_UNAVAILABLE', 'executor closed'));
    if (this.threads.some((t) => t.job)) await new Promise<void>((resolve) => (this.drained = resolve));
    await Promise.all(this.threads.map((t) => t.worker.terminate()));
  }
}
