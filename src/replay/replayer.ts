/**
 * `slackserve replay`'s engine: a trace replayed open loop against a server over gRPC. The
 * schedule is split round-robin over sender threads (each with its own channel), so one Node
 * event loop's per-call cost does not cap the offered rate. Inputs are the committed test images
 * with their labels, so accuracy against ground truth is measured, not assumed.
 *
 * The distinct requests are encoded once before the schedule starts (encoded.ts); all threads
 * share one timebase (epoch ms, performance.timeOrigin + performance.now()) and start together
 * once every channel is connected. The client's own CPU over the run is measured
 * (process.cpuUsage: all threads of this process) so a report can say when the client, not the
 * server, limited the run (report.ts, `clientLimitedReason`).
 */
import { existsSync } from 'node:fs';
import { availableParallelism, hostname, networkInterfaces } from 'node:os';
import { Worker } from 'node:worker_threads';
import { isRealtime } from '../client/priority.js';
import { SlackserveError } from '../errors.js';
import type { TraceRequest } from '../trace/format.js';
import { preEncode } from './encoded.js';
import type { FromThread, ThreadInit, ToThread, Transport } from './replay-thread.js';
import type { ClientStats, ReplayRequest, RequestRecord, ThreadProgress } from './types.js';

export interface ReplayOptions {
  readonly target: string;
  readonly model: string;
  readonly inputName: string;
  readonly trace: readonly TraceRequest[];
  /** n x sample floats, and n labels. */
  readonly images: Float32Array;
  readonly labels: Uint8Array;
  readonly sampleShape: readonly number[];
  /** Time warp: 2 plays the trace twice as fast (same requests). */
  readonly speed?: number;
  /** Rate scaling: keeps each request with probability X (X < 1) or adds copies (X > 1), seeded. */
  readonly rateScale?: number;
  /** Stop the schedule after this many seconds (of replay time). */
  readonly durationS?: number;
  /** Sender threads, or 'auto' (default): enough for the schedule's peak rate, see `autoThreads`. */
  readonly threads?: number | 'auto';
  /** Images each request carries (consecutive test images), default 1. */
  readonly imagesPerRequest?: number;
  readonly seed?: number;
  /**
   * The server runs in this process (demo, in-process tests): the process CPU is then not the
   * client's alone, so the CPU part of the client-limited rule is not applied.
   */
  readonly serverInProcess?: boolean;
  /** Test hook: CPU each send burns on purpose (a deliberately slow client), ms. */
  readonly sendCostMs?: number;
  /**
   * How calls are made: 'h2' (h2-unary.ts) or 'grpc-js' (grpc.Client.makeUnaryRequest with
   * identity serializers); 'auto' (default): h2 for a plain host:port target, grpc-js otherwise.
   */
  readonly transport?: Transport | 'auto';
  /** Each sender thread's young generation, MB (DEFAULT_THREAD_YOUNG_GEN_MB; 0: V8's default). */
  readonly threadYoungGenMb?: number;
  readonly onProgress?: (p: ReplayProgress) => void;
}

/**
 * A sender thread's young generation, MB. A sender allocates ~25 KB per call and a scavenge
 * stops it, so its pauses make the p99 lateness. Measured on a quiet machine, 3 interleaved runs
 * each (`bench/replay/client-rate.js --rates 2000 --reps 1 --duration 10 --transport h2
 * --young-gen-mb N`): V8's default p99 10.2 / 11.3 / 13.1 ms; 4 MB 5.2 / 6.0 / 6.4; 2 MB 4.1 /
 * 4.5 / 6.7; 1 MB 3.9 / 4.6 / 5.3 (smaller nurseries scavenge more often but each pause is short:
 * the survivors are the few calls in flight); 8 MB and 64 MB were worse than the default. CPU per
 * call did not rise (217-258 µs in every run).
 */
export const DEFAULT_THREAD_YOUNG_GEN_MB = 2;

export interface ReplayProgress {
  readonly elapsedS: number;
  readonly total: number;
  readonly sent: number;
  readonly done: number;
  /** Answered within SLO (client-measured) so far. */
  readonly met: number;
  readonly maxBehindMs: number;
}

export interface ReplayResult {
  readonly records: RequestRecord[];
  readonly total: number;
  readonly scheduleS: number;
  readonly wallS: number;
  readonly maxBehindMs: number;
  readonly threads: number;
  readonly client: ClientStats;
}

/**
 * Requests per second `autoThreads` gives one sender thread. Measured here (docs/replay.md): at
 * 2,000 req/s one thread's event loop was 50-60% busy with the h2 transport and 75-85% with
 * grpc-js; at 1,500 req/s a thread stays at least a third idle, so its timers still fire on time.
 */
export const RPS_PER_THREAD = 1500;

/** The most requests any 1-second window of the schedule holds. */
export function peakRate(reqs: readonly Pick<ReplayRequest, 't_ms'>[]): number {
  let best = 0;
  let lo = 0;
  for (let hi = 0; hi < reqs.length; hi++) {
    while ((reqs[lo] as Pick<ReplayRequest, 't_ms'>).t_ms <= (reqs[hi] as Pick<ReplayRequest, 't_ms'>).t_ms - 1000) lo++;
    best = Math.max(best, hi - lo + 1);
  }
  return best;
}

/**
 * Sender threads for a schedule: one per RPS_PER_THREAD of its peak 1-s rate, at least 1 and at
 * most 8; at most the machine's cores, less one when the server is on this machine (a sender
 * thread more than that only takes CPU from the server and the other senders).
 */
export function autoThreads(reqs: readonly Pick<ReplayRequest, 't_ms'>[], opts: { cores?: number; localServer?: boolean } = {}): number {
  const cores = opts.cores ?? availableParallelism();
  const cap = Math.max(1, Math.min(8, opts.localServer ? cores - 1 : cores));
  return Math.max(1, Math.min(Math.ceil(peakRate(reqs) / RPS_PER_THREAD), cap));
}

/** A plain `host:port` (or `[v6]:port`) target, the only kind the h2 transport dials. */
export const isHostPort = (target: string): boolean => /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):\d+$/.test(target);

/** The transport a replay uses: as asked, or for 'auto' h2 where it can dial the target. */
export function pickTransport(target: string, asked: Transport | 'auto'): Transport {
  if (asked === 'auto') return isHostPort(target) ? 'h2' : 'grpc-js';
  if (asked !== 'grpc-js' && asked !== 'h2') throw new SlackserveError('INPUT_INVALID', `transport must be auto, h2 or grpc-js (got ${String(asked)})`);
  if (asked === 'h2' && !isHostPort(target)) throw new SlackserveError('INPUT_INVALID', `the h2 transport dials plain host:port targets only (got ${target}); use grpc-js`);
  return asked;
}

/** Whether a gRPC target is this machine (then client and server compete for its CPUs). */
export function isLocalTarget(target: string): boolean {
  if (/^unix:/.test(target)) return true;
  const t = target.replace(/^dns:(\/\/[^/]*\/)?/, '');
  const host = (t.startsWith('[') ? t.slice(1, t.indexOf(']')) : (t.split(':')[0] ?? '')).toLowerCase();
  if (host === '' || host === 'localhost' || host === '::1' || host === '0.0.0.0' || host === '::' || host.startsWith('127.') || host === hostname().toLowerCase()) return true;
  return Object.values(networkInterfaces()).some((l) => (l ?? []).some((i) => i.address.toLowerCase() === host));
}

function threadEntry(): URL {
  const here = new URL('./replay-thread.js', import.meta.url);
  if (!import.meta.url.endsWith('.ts')) return here;
  const built = new URL('../../dist/replay/replay-thread.js', import.meta.url);
  if (!existsSync(built)) throw new SlackserveError('INTERNAL', 'dist/replay/replay-thread.js is missing: run `npm run build` first');
  return built;
}

/** The schedule after speed, rate scaling and duration cut, with an image per request. */
/**
 * The send schedule: the trace warped, scaled and cut, each request given its images. Request i
 * carries `per` consecutive images starting at (i x per) mod (nImages - per + 1), so consecutive
 * requests carry different images and a replay walks the whole labelled set.
 */
export function schedule(o: Pick<ReplayOptions, 'trace' | 'speed' | 'rateScale' | 'durationS' | 'seed'>, nImages: number, per = 1): ReplayRequest[] {
  const starts = Math.max(1, nImages - per + 1);
  const speed = o.speed ?? 1;
  const scale = o.rateScale ?? 1;
  if (!(speed > 0) || !(scale > 0)) throw new SlackserveError('INPUT_INVALID', `speed and rate-scale must be > 0 (got ${speed}, ${scale})`);
  let s = (o.seed ?? 1) >>> 0 || 1;
  const rand = (): number => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 4294967296;
  };
  const limit = o.durationS !== undefined ? o.durationS * 1000 : Infinity;
  const out: Omit<ReplayRequest, 'i' | 'image'>[] = [];
  for (const r of o.trace) {
    const t = r.t_ms / speed;
    if (t > limit) break;
    // whole copies, then one more with the fractional probability
    let copies = Math.floor(scale);
    if (rand() < scale - copies) copies++;
    for (let c = 0; c < copies; c++)
      out.push({ t_ms: c === 0 ? t : t + rand() * 0.5, slo_ms: r.slo_ms, min_accuracy: r.min_accuracy ?? null, priority: r.priority, class: r.class });
  }
  out.sort((a, b) => a.t_ms - b.t_ms);
  return out.map((r, i) => ({ ...r, i, image: (i * per) % starts }));
}

export async function replay(o: ReplayOptions): Promise<ReplayResult> {
  const sample = o.sampleShape.reduce((a, b) => a * b, 1);
  const nImages = o.labels.length;
  if (nImages === 0 || o.images.length !== nImages * sample) throw new SlackserveError('INPUT_INVALID', 'replay needs at least one image and one label per image');
  const per = o.imagesPerRequest ?? 1;
  if (!Number.isInteger(per) || per < 1 || per > nImages) throw new SlackserveError('INPUT_INVALID', `images per request must be an integer in 1..${nImages}`);
  const reqs = schedule(o, nImages, per);
  const asked = o.threads ?? 'auto';
  if (asked !== 'auto' && !(Number.isInteger(asked) && asked >= 1)) throw new SlackserveError('INPUT_INVALID', `threads must be a positive integer or 'auto' (got ${asked})`);
  const transport = pickTransport(o.target, o.transport ?? 'auto');
  const local = isLocalTarget(o.target);
  const threads = Math.max(1, Math.min(asked === 'auto' ? autoThreads(reqs, { localServer: local }) : asked, reqs.length || 1));
  const { pieces, combo } = preEncode({ model: o.model, inputName: o.inputName, images: o.images, sampleShape: o.sampleShape, imagesPerRequest: per, requests: reqs });
  const progress: ThreadProgress[] = Array.from({ length: threads }, () => ({ sent: 0, done: 0, met: 0, maxBehindMs: 0 }));
  const records: RequestRecord[] = [];
  const busy: number[] = [];
  let startEpochMs = Infinity;
  const report = (): void => {
    const sum = (k: keyof ThreadProgress): number => progress.reduce((a, p) => a + p[k], 0);
    o.onProgress?.({
      elapsedS: Math.max(0, (performance.timeOrigin + performance.now() - startEpochMs) / 1000),
      total: reqs.length,
      sent: sum('sent'),
      done: sum('done'),
      met: sum('met'),
      maxBehindMs: Math.max(...progress.map((p) => p.maxBehindMs)),
    });
  };
  const wall0 = performance.now();
  const workers: Worker[] = [];
  let ticker: NodeJS.Timeout | undefined;
  let cpu0: NodeJS.CpuUsage | undefined;
  try {
    const ready: Promise<void>[] = [];
    const done: Promise<void>[] = [];
    for (let k = 0; k < threads; k++) {
      const mine = reqs.filter((r) => r.i % threads === k).map((r) => ({ ...r, combo: combo[r.i] as number }));
      const init: ThreadInit = { target: o.target, requests: mine, pieces, labels: o.labels, imagesPerRequest: per, progressEveryMs: 250, sendCostMs: o.sendCostMs ?? 0, transport };
      const youngMb = o.threadYoungGenMb ?? DEFAULT_THREAD_YOUNG_GEN_MB;
      const w = new Worker(threadEntry(), { workerData: init, ...(youngMb > 0 ? { resourceLimits: { maxYoungGenerationSizeMb: youngMb } } : {}) });
      workers.push(w);
      let isReady: () => void = () => undefined;
      ready.push(new Promise<void>((res) => (isReady = res)));
      done.push(
        new Promise<void>((resolve, reject) => {
          w.on('message', (m: FromThread) => {
            if (m.kind === 'ready') isReady();
            else if (m.kind === 'progress') progress[k] = m.progress;
            else {
              records.push(...m.records);
              busy.push(m.busy);
              resolve();
            }
          });
          w.once('error', reject);
          w.once('exit', (code) => (code === 0 ? resolve() : reject(new SlackserveError('INTERNAL', `replay thread ${k} exited with ${code}`))));
        }),
      );
    }
    // a thread that dies before it is ready rejects `done` (raced here so it is not waited on forever)
    await Promise.race([Promise.all(ready), Promise.all(done).then(() => undefined)]);
    startEpochMs = performance.timeOrigin + performance.now() + 20;
    cpu0 = process.cpuUsage();
    for (const w of workers) w.postMessage({ kind: 'start', startEpochMs } satisfies ToThread);
    ticker = setInterval(report, 500);
    await Promise.all(done);
  } finally {
    if (ticker) clearInterval(ticker);
    for (const w of workers) void w.terminate();
  }
  const cpu = process.cpuUsage(cpu0);
  const runWallS = Math.max(1e-9, (performance.timeOrigin + performance.now() - startEpochMs) / 1000);
  report();
  records.sort((a, b) => a.i - b.i);
  const last = reqs[reqs.length - 1];
  const maxBehindMs = Math.max(...progress.map((p) => p.maxBehindMs));
  return {
    records,
    total: reqs.length,
    scheduleS: last ? last.t_ms / 1000 : 0,
    wallS: (performance.now() - wall0) / 1000,
    maxBehindMs,
    threads,
    client: {
      threads,
      transport,
      priority: isRealtime() ? 'realtime' : 'normal',
      sent: progress.reduce((a, p) => a + p.sent, 0),
      cpuUs: cpu.user + cpu.system,
      wallS: runWallS,
      threadBusyMax: Math.max(0, ...busy),
      machineCores: availableParallelism(),
      sharesMachine: !o.serverInProcess && local,
      cpuIncludesServer: o.serverInProcess === true,
    },
  };
}
