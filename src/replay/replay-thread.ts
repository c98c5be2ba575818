/**
 * One replay sender: a worker thread with its own gRPC channel, sending its share of the trace
 * open loop (at the scheduled times, whatever the answers do) and recording every outcome.
 * Several threads share the schedule so the client is not the bottleneck.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { OipClient, type ParamValue } from '../client/oip-client.js';
import type { ReplayRequest, RequestRecord, ThreadProgress } from './types.js';

interface Init {
  readonly target: string;
  readonly model: string;
  readonly inputName: string;
  readonly requests: readonly ReplayRequest[];
  /** All test images (shared), sample floats each. */
  readonly images: Float32Array;
  readonly labels: Uint8Array;
  readonly sampleShape: readonly number[];
  readonly imagesPerRequest: number;
  /** Epoch ms at which trace time 0 happens. */
  readonly startEpochMs: number;
  readonly progressEveryMs: number;
}

const init = workerData as Init;
const port = parentPort as NonNullable<typeof parentPort>;
const epoch = (): number => performance.timeOrigin + performance.now();
const sample = init.sampleShape.reduce((a, b) => a * b, 1);
const client = new OipClient(init.target);
const records: RequestRecord[] = [];
const progress = { sent: 0, done: 0, met: 0, maxBehindMs: 0 };

const timer = setInterval(() => port.postMessage({ kind: 'progress', progress: { ...progress } satisfies ThreadProgress }), init.progressEveryMs);

function send(r: ReplayRequest, behind: number): Promise<void> {
  const params: Record<string, ParamValue> = { 'slackserve.latency_budget_ms': r.slo_ms, 'slackserve.slo_class': r.class };
  if (r.min_accuracy !== null) params['slackserve.min_accuracy'] = r.min_accuracy;
  if (r.priority !== 0) params.priority = r.priority;
  const t0 = epoch();
  const k = init.imagesPerRequest;
  const images = init.images.subarray(r.image * sample, (r.image + k) * sample);
  const base = { i: r.i, scheduledMs: r.t_ms, behindMs: behind, sloMs: r.slo_ms, sloClass: r.class, label: init.labels[r.image] ?? -1 };
  progress.sent++;
  // a gRPC deadline well past the SLO guarantees every request an outcome even if a server hangs
  return client.infer({ model: init.model, inputName: init.inputName, images, shape: [k, ...init.sampleShape], params, id: String(r.i), deadlineMs: t0 + r.slo_ms + 5000 }).then(
    (res) => {
      const latencyMs = epoch() - t0;
      const p = res.params;
      progress.done++;
      if (latencyMs <= r.slo_ms) progress.met++;
      records.push({
        ...base,
        latencyMs,
        outcome: 'ok',
        status: 'OK',
        message: '',
        subnet: String(p['slackserve.subnet'] ?? ''),
        exit: String(p['slackserve.exit'] ?? 'final'),
        predicted: res.classes[0] ?? -1,
        queueUs: Number(p['slackserve.queue_us'] ?? 0),
        computeUs: Number(p['slackserve.compute_us'] ?? 0),
        downgraded: p['slackserve.downgraded'] === true,
        deadlineAnswer: p['slackserve.deadline_answer'] === true,
        serverDeadlineMet: p['slackserve.deadline_met'] === true,
      });
    },
    (e: { code?: number; details?: string; message?: string }) => {
      progress.done++;
      records.push({
        ...base,
        latencyMs: epoch() - t0,
        outcome: 'error',
        status: STATUS_NAMES[e.code ?? 2] ?? String(e.code),
        message: e.details ?? e.message ?? String(e),
        subnet: '',
        exit: '',
        predicted: -1,
        queueUs: 0,
        computeUs: 0,
        downgraded: false,
        deadlineAnswer: false,
        serverDeadlineMet: false,
      });
    },
  );
}

const STATUS_NAMES: Record<number, string> = {
  0: 'OK', 1: 'CANCELLED', 2: 'UNKNOWN', 3: 'INVALID_ARGUMENT', 4: 'DEADLINE_EXCEEDED', 5: 'NOT_FOUND', 8: 'RESOURCE_EXHAUSTED',
  9: 'FAILED_PRECONDITION', 13: 'INTERNAL', 14: 'UNAVAILABLE', 16: 'UNAUTHENTICATED',
};

async function run(): Promise<void> {
  const inflight: Promise<void>[] = [];
  let k = 0;
  const reqs = init.requests;
  while (k < reqs.length) {
    const now = epoch() - init.startEpochMs;
    const next = reqs[k] as ReplayRequest;
    if (next.t_ms > now + 0.5) {
      await new Promise((res) => setTimeout(res, Math.max(0, next.t_ms - now - 0.5)));
      continue;
    }
    // send everything that is due now (falls behind gracefully: records how late)
    while (k < reqs.length && (reqs[k] as ReplayRequest).t_ms <= now + 0.5) {
      const r = reqs[k] as ReplayRequest;
      const behind = Math.max(0, now - r.t_ms);
      progress.maxBehindMs = Math.max(progress.maxBehindMs, behind);
      inflight.push(send(r, behind));
      k++;
    }
  }
  await Promise.all(inflight);
  clearInterval(timer);
  client.close();
  port.postMessage({ kind: 'progress', progress: { ...progress } });
  port.postMessage({ kind: 'done', records });
}

void run();
