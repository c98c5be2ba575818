/**
 * One replay sender: a worker thread with its own gRPC channel, sending its share of the trace
 * open loop (at the scheduled times, whatever the answers do) and recording every outcome.
 *
 * Per call it does as little as it can: the request bytes are copied together from pieces
 * encoded once before the run (encoded.ts) and sent as they are, over node:http2 (h2-unary.ts)
 * or grpc-js with an identity serializer; the response bytes are read lazily (wire.ts: id,
 * `slackserve.*` parameters, the `class` output; the logits are skipped). Each answer is still
 * checked: gRPC status, the echoed id, the class count.
 *
 * Protocol with replayer.ts: the thread connects its channel, posts `ready`, waits for `start`
 * (the shared epoch-ms timebase of trace time 0), runs, posts `progress` now and then and `done`.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { H2UnaryClient, type UnaryError } from '../client/h2-unary.js';
import { MODEL_INFER_PATH, OipClient } from '../client/oip-client.js';
import { readInferResponse } from '../client/wire.js';
import { RequestBytes, type EncodedPieces } from './encoded.js';
import type { ReplayRequest, RequestRecord, ThreadProgress } from './types.js';

export interface ThreadInit {
  readonly target: string;
  readonly requests: readonly (ReplayRequest & { readonly combo: number })[];
  readonly pieces: EncodedPieces;
  readonly labels: Uint8Array;
  readonly imagesPerRequest: number;
  readonly progressEveryMs: number;
  /** Test hook: CPU burnt per send (a slow client on purpose), ms. */
  readonly sendCostMs: number;
  readonly transport: Transport;
}

/** `grpc-js`: grpc.Client.makeUnaryRequest with identity (de)serializers; `h2`: h2-unary.ts. */
export type Transport = 'grpc-js' | 'h2';

interface Sender {
  connect(timeoutMs: number): Promise<boolean>;
  send(combo: number, image: number, id: string, deadlineMs: number, cb: (err: UnaryError | null, res?: Buffer) => void): void;
  close(): void;
}

export type ToThread = { kind: 'start'; startEpochMs: number };
export type FromThread =
  | { kind: 'ready' }
  | { kind: 'progress'; progress: ThreadProgress }
  | { kind: 'done'; records: RequestRecord[]; busy: number };

const STATUS_NAMES: Record<number, string> = {
  0: 'OK', 1: 'CANCELLED', 2: 'UNKNOWN', 3: 'INVALID_ARGUMENT', 4: 'DEADLINE_EXCEEDED', 5: 'NOT_FOUND', 8: 'RESOURCE_EXHAUSTED',
  9: 'FAILED_PRECONDITION', 13: 'INTERNAL', 14: 'UNAVAILABLE', 16: 'UNAUTHENTICATED',
};

/** Sends per turn of the event loop at most, so answers and socket writes are not starved when behind. */
const BURST = 64;

const init = workerData as ThreadInit;
const port = parentPort as NonNullable<typeof parentPort>;
const epoch = (): number => performance.timeOrigin + performance.now();
const bytes = new RequestBytes(init.pieces);

function sender(): Sender {
  if (init.transport === 'h2') {
    const h2 = new H2UnaryClient(init.target);
    return {
      connect: (ms) => h2.connect(ms),
      send: (combo, image, id, deadlineMs, cb) => h2.call(MODEL_INFER_PATH, bytes.get(combo, image, id, true), deadlineMs, cb),
      close: () => h2.close(),
    };
  }
  const c = new OipClient(init.target);
  return {
    connect: (ms) => c.connect(ms),
    send: (combo, image, id, deadlineMs, cb) => void c.inferEncoded(bytes.get(combo, image, id), deadlineMs, cb),
    close: () => c.close(),
  };
}
const client = sender();
const records: RequestRecord[] = [];
const progress = { sent: 0, done: 0, met: 0, maxBehindMs: 0 };
const post = (m: FromThread): void => port.postMessage(m);

function errorRecord(base: Omit<RequestRecord, 'latencyMs' | 'outcome' | 'status' | 'message' | 'subnet' | 'exit' | 'predicted' | 'correct' | 'queueUs' | 'computeUs' | 'downgraded' | 'deadlineAnswer' | 'serverDeadlineMet'>, latencyMs: number, status: string, message: string): RequestRecord {
  return { ...base, latencyMs, outcome: 'error', status, message, subnet: '', exit: '', predicted: -1, correct: 0, queueUs: 0, computeUs: 0, downgraded: false, deadlineAnswer: false, serverDeadlineMet: false };
}

function send(r: ReplayRequest & { readonly combo: number }, behindMs: number, onDone: () => void): void {
  if (init.sendCostMs > 0) for (const until = performance.now() + init.sendCostMs; performance.now() < until; );
  const id = String(r.i);
  const base = { i: r.i, scheduledMs: r.t_ms, behindMs, sloMs: r.slo_ms, sloClass: r.class, label: init.labels[r.image] ?? -1, images: init.imagesPerRequest };
  const t0 = epoch();
  progress.sent++;
  // a gRPC deadline well past the SLO guarantees every request an outcome even if a server hangs
  client.send(r.combo, r.image, id, t0 + r.slo_ms + 5000, (err: UnaryError | null, res?: Buffer) => {
    const latencyMs = epoch() - t0;
    progress.done++;
    if (err || !res) {
      const e = err ?? { code: 2, details: 'no response' };
      records.push(errorRecord(base, latencyMs, STATUS_NAMES[e.code] ?? String(e.code), e.details || (e as { message?: string }).message || String(e)));
      return onDone();
    }
    let bad: string | null = null;
    let view: ReturnType<typeof readInferResponse> | null = null;
    try {
      view = readInferResponse(res);
      if (view.id !== id) bad = `response id "${view.id}" answers request "${id}"`;
      else if (view.classes && view.classes.length !== init.imagesPerRequest) bad = `${view.classes.length} classes answered for ${init.imagesPerRequest} images`;
    } catch (e) {
      bad = `malformed ModelInferResponse: ${(e as Error).message}`;
    }
    if (bad !== null || !view) {
      records.push(errorRecord(base, latencyMs, 'BAD_RESPONSE', bad ?? ''));
      return onDone();
    }
    const p = view.params;
    if (latencyMs <= r.slo_ms) progress.met++;
    records.push({
      ...base,
      latencyMs,
      outcome: 'ok',
      status: 'OK',
      message: '',
      subnet: String(p['slackserve.subnet'] ?? ''),
      exit: String(p['slackserve.exit'] ?? 'final'),
      predicted: view.classes?.[0] ?? -1,
      correct: countCorrect(view.classes, init.labels, r.image),
      queueUs: Number(p['slackserve.queue_us'] ?? 0),
      computeUs: Number(p['slackserve.compute_us'] ?? 0),
      downgraded: p['slackserve.downgraded'] === true,
      deadlineAnswer: p['slackserve.deadline_answer'] === true,
      serverDeadlineMet: p['slackserve.deadline_met'] === true,
    });
    onDone();
  });
}

/** Images answered with their own label: request images are labels[first], labels[first + 1], ... */
function countCorrect(classes: ArrayLike<number> | null | undefined, labels: Uint8Array, first: number): number {
  if (!classes) return 0;
  let n = 0;
  for (let j = 0; j < classes.length; j++) if (classes[j] === labels[first + j]) n++;
  return n;
}

async function run(startEpochMs: number): Promise<void> {
  const timer = setInterval(() => post({ kind: 'progress', progress: { ...progress } }), init.progressEveryMs);
  const elu0 = performance.eventLoopUtilization();
  const reqs = init.requests;
  let outstanding = 0;
  let finish: () => void = () => undefined;
  const allAnswered = new Promise<void>((res) => (finish = res));
  let scheduleDone = false;
  const onDone = (): void => {
    outstanding--;
    if (scheduleDone && outstanding === 0) finish();
  };
  let k = 0;
  while (k < reqs.length) {
    const next = reqs[k] as ReplayRequest & { readonly combo: number };
    const wait = next.t_ms - (epoch() - startEpochMs);
    if (wait > 0.5) {
      await new Promise((res) => setTimeout(res, wait - 0.5));
      continue;
    }
    // everything due now (up to BURST), each stamped with its own lateness
    for (let n = 0; n < BURST && k < reqs.length; n++) {
      const r = reqs[k] as ReplayRequest & { readonly combo: number };
      const now = epoch() - startEpochMs;
      if (r.t_ms > now + 0.5) break;
      const behind = Math.max(0, now - r.t_ms);
      if (behind > progress.maxBehindMs) progress.maxBehindMs = behind;
      outstanding++;
      send(r, behind, onDone);
      k++;
    }
    if (k < reqs.length && (reqs[k] as ReplayRequest).t_ms <= epoch() - startEpochMs + 0.5) await new Promise((res) => setImmediate(res));
  }
  scheduleDone = true;
  // busy while it had requests to send (the wait for the last answers is not the sender's limit)
  const busy = performance.eventLoopUtilization(elu0).utilization;
  if (outstanding > 0) await allAnswered;
  clearInterval(timer);
  client.close();
  post({ kind: 'progress', progress: { ...progress } });
  post({ kind: 'done', records, busy });
}

port.once('message', (m: ToThread) => void run(m.startEpochMs));
// connect before the schedule starts (so the first sends do not pay for it); an unreachable
// target still gets its requests, which then fail with UNAVAILABLE like any others
void client.connect(2000).then(() => post({ kind: 'ready' }));
