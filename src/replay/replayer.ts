/**
 * `slackserve replay`'s engine: a trace replayed open loop against a server over gRPC. The
 * schedule is split round-robin over sender threads (each with its own channel), so one Node
 * event loop's per-call cost does not cap the offered rate. Inputs are the committed test images
 * with their labels, so accuracy against ground truth is measured, not assumed.
 */
import { existsSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { SlackserveError } from '../errors.js';
import type { TraceRequest } from '../trace/format.js';
import type { ReplayRequest, RequestRecord, ThreadProgress } from './types.js';

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
  readonly threads?: number;
  /** Images each request carries (consecutive test images), default 1. */
  readonly imagesPerRequest?: number;
  readonly seed?: number;
  readonly onProgress?: (p: ReplayProgress) => void;
}

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
}

function threadEntry(): URL {
  const here = new URL('./replay-thread.js', import.meta.url);
  if (!import.meta.url.endsWith('.ts')) return here;
  const built = new URL('../../dist/replay/replay-thread.js', import.meta.url);
  if (!existsSync(built)) throw new SlackserveError('INTERNAL', 'dist/replay/replay-thread.js is missing: run `npm run build` first');
  return built;
}

/** The schedule after speed, rate scaling and duration cut, with an image per request. */
export function schedule(o: Pick<ReplayOptions, 'trace' | 'speed' | 'rateScale' | 'durationS' | 'seed'>, nImages: number): ReplayRequest[] {
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
  return out.map((r, i) => ({ ...r, i, image: i % nImages }));
}

export async function replay(o: ReplayOptions): Promise<ReplayResult> {
  const sample = o.sampleShape.reduce((a, b) => a * b, 1);
  const nImages = o.labels.length;
  if (nImages === 0 || o.images.length !== nImages * sample) throw new SlackserveError('INPUT_INVALID', 'replay needs at least one image and one label per image');
  const per = o.imagesPerRequest ?? 1;
  if (!Number.isInteger(per) || per < 1 || per > nImages) throw new SlackserveError('INPUT_INVALID', `images per request must be an integer in 1..${nImages}`);
  const reqs = schedule(o, nImages - per + 1);
  const threads = Math.max(1, Math.min(o.threads ?? 2, reqs.length || 1));
  const shared = new Float32Array(new SharedArrayBuffer(o.images.byteLength));
  shared.set(o.images);
  const startEpochMs = performance.timeOrigin + performance.now() + 300 + 50 * threads; // let threads start
  const progress: ThreadProgress[] = Array.from({ length: threads }, () => ({ sent: 0, done: 0, met: 0, maxBehindMs: 0 }));
  const records: RequestRecord[] = [];
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
  const ticker = setInterval(report, 500);
  const wall0 = performance.now();
  try {
    await Promise.all(
      Array.from({ length: threads }, (_, k) => {
        const mine = reqs.filter((r) => r.i % threads === k);
        const w = new Worker(threadEntry(), {
          workerData: { target: o.target, model: o.model, inputName: o.inputName, requests: mine, images: shared, labels: o.labels, sampleShape: o.sampleShape, imagesPerRequest: per, startEpochMs, progressEveryMs: 250 },
        });
        return new Promise<void>((resolve, reject) => {
          w.on('message', (m: { kind: 'progress'; progress: ThreadProgress } | { kind: 'done'; records: RequestRecord[] }) => {
            if (m.kind === 'progress') progress[k] = m.progress;
            else {
              records.push(...m.records);
              resolve();
            }
          });
          w.once('error', reject);
          w.once('exit', (code) => (code === 0 ? resolve() : reject(new SlackserveError('INTERNAL', `replay thread ${k} exited with ${code}`))));
        });
      }),
    );
  } finally {
    clearInterval(ticker);
  }
  report();
  records.sort((a, b) => a.i - b.i);
  const last = reqs[reqs.length - 1];
  return {
    records,
    total: reqs.length,
    scheduleS: last ? last.t_ms / 1000 : 0,
    wallS: (performance.now() - wall0) / 1000,
    maxBehindMs: Math.max(...progress.map((p) => p.maxBehindMs)),
    threads,
  };
}
