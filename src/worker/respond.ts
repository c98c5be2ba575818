/**
 * The worker loop's respond step: every reply a worker sends to a frontend, and the acks that
 * follow. It owns the rule that ties the two: replies are awaited before acks, and a delivery
 * whose reply did not reach the queue backend is unheld, never acked (reclaim brings it back).
 * It also builds a finished batch's final replies from the executor's output. The loop decides
 * what to answer and when; nothing here holds state between calls.
 */
import { asSlackserveError, type SlackserveError } from '../errors.js';
import type { Metrics } from '../metrics/metrics.js';
import type { Delivery, InferenceOk, InferenceReply, RequestQueue } from '../queue/types.js';
import { argmaxRows, bytesOf } from './tensors.js';

export interface ResponderOptions {
  /** The worker's id (in every reply). */
  readonly id: string;
  readonly model: string;
  readonly queue: RequestQueue;
  readonly clock: () => number;
  readonly metrics?: Metrics;
  readonly log?: (line: string) => void;
}

/** A batch the executor finished, as the replies need it. */
export interface FinishedBatch {
  readonly subnet: string;
  /** The batch's deliveries in row order, each with its number of images. */
  readonly helds: readonly { readonly delivery: Delivery; readonly count: number }[];
  /** Final logits of every row. */
  readonly logits: Float32Array;
  /** Per request: its early (or deadline) answer was final already. */
  readonly answered: readonly boolean[];
  /** Images in the batch. */
  readonly total: number;
  /** The subnet's accuracy (-1 unknown). */
  readonly accuracy: number;
  readonly start: number;
  readonly end: number;
  /** Triton's compute_input: copying the requests into the batch. */
  readonly inputUs: number;
}

export class Responder {
  constructor(private readonly o: ResponderOptions) {}

  /**
   * A failed queue operation. BACKEND_UNAVAILABLE is not logged here: the queue logs the
   * backend's reachability once per change, not once per failed call.
   */
  logFailure(what: string, e: unknown): void {
    const err = asSlackserveError(e);
    if (err.code === 'BACKEND_UNAVAILABLE') return;
    this.o.log?.(`${what} failed: ${err.message}`);
  }

  /**
   * Sends the final replies of a finished batch (not to requests whose early or deadline answer
   * was final), then settles its deliveries. Resolves how many requests missed their deadline
   * without an earlier answer (the policy's feedback).
   */
  async answerBatch(b: FinishedBatch): Promise<number> {
    const { subnet, start, end } = b;
    const classes = b.logits.length / b.total;
    const m = this.o.metrics;
    let row = 0;
    let missed = 0;
    const replies = b.helds.map((h, i) => {
      const q = h.delivery.request;
      const logits = b.logits.slice(row * classes, (row + h.count) * classes);
      row += h.count;
      if (b.answered[i] && !q.stream) return Promise.resolve(true); // its early (or deadline) answer was final
      const met = end <= q.deadlineMs;
      if (!met && !b.answered[i]) missed++;
      const reply: InferenceReply = {
        id: q.id,
        ok: true,
        final: true,
        subnet,
        exit: null,
        logits: bytesOf(logits),
        classes: argmaxRows(logits, h.count),
        queueUs: Math.round((start - q.arrivalMs) * 1000),
        computeUs: Math.round((end - start) * 1000),
        deadlineMet: met,
        downgraded: q.downgraded,
        worker: this.o.id,
        // input_us / output_us: Triton's compute_input (the copy into the batch) and compute_output (this reply)
        extra: { accuracy: b.accuracy, batch: b.total, input_us: b.inputUs, output_us: Math.round((this.o.clock() - end) * 1000) },
      };
      m?.of(m.queueDuration, this.o.model).observe((start - q.arrivalMs) / 1000);
      return this.send(reply, q.frontend);
    });
    await this.settle(b.helds.map((h) => h.delivery), await Promise.all(replies));
    return missed;
  }

  /** Answers every delivery with `err` (a batch that failed), then settles them. */
  async failAll(deliveries: readonly Delivery[], err: SlackserveError): Promise<void> {
    const sent = await Promise.all(deliveries.map((d) => this.replyError(d.request.id, d.request.frontend, err)));
    await this.settle(deliveries, sent);
  }

  /** An early or deadline answer of a staged batch: sent while the batch runs, acked with the batch. */
  early(reply: InferenceOk, frontend: string): void {
    void this.o.queue.reply(reply, frontend).catch((e: unknown) => this.logFailure('early reply', e));
  }

  replyError(id: string, frontend: string, e: SlackserveError): Promise<boolean> {
    return this.send({ id, ok: false, code: e.code, message: e.message }, frontend);
  }

  /** Resolves whether the reply reached the queue backend; one that could not is logged. */
  async send(reply: InferenceReply, frontend: string): Promise<boolean> {
    try {
      await this.o.queue.reply(reply, frontend);
      return true;
    } catch (err) {
      this.logFailure(`reply to ${frontend}`, err);
      return false;
    }
  }

  /**
   * After the replies: acks the deliveries whose answer reached the backend. The others are not
   * acked (an ack would remove the request with its answer lost, and the call would wait out
   * deadline + grace): they stay pending and come back through reclaim, to be answered again.
   */
  async settle(deliveries: readonly Delivery[], sent: readonly boolean[]): Promise<void> {
    const unsent = deliveries.filter((_d, i) => sent[i] === false);
    if (unsent.length > 0) this.o.queue.unhold?.(unsent);
    await this.ack(unsent.length === 0 ? deliveries : deliveries.filter((_d, i) => sent[i] !== false));
  }

  /** An ack that fails leaves the entries pending; they are never run twice by this worker. */
  async ack(deliveries: readonly Delivery[]): Promise<void> {
    if (deliveries.length === 0) return;
    try {
      await this.o.queue.ack(deliveries);
    } catch (err) {
      this.logFailure(`ack of ${deliveries.length} request(s)`, err);
    }
  }
}
