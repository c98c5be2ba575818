/**
 * Discrete-event simulator: arrivals from a trace, any number of executors, batch latency from the
 * measured profile (the p50, or a log-normal draw matching the measured p50/p95), and the very
 * policy objects the server uses. The clock is simulated; one decision happens whenever an
 * executor is idle and the queue is not empty, exactly as in the worker loop.
 */
import { admit, type AdmissionMode } from '../scheduler/admission.js';
import { ArrivalRate } from '../scheduler/arrival-rate.js';
import { EdfQueue } from '../scheduler/edf-queue.js';
import type { LatencyTable } from '../scheduler/latency-table.js';
import type { ExitView, Policy, QueuedRequest } from '../scheduler/types.js';
import type { ExitModel } from './exit-model.js';
import { SimRng } from './rng.js';
import { shareOfCore, type ServingModel } from './serving-model.js';

/** Arrivals, columnar (what `toColumns` of src/trace makes): ms offsets, budgets, NaN = no minimum. */
export interface SimArrivals {
  readonly t_ms: Float64Array;
  readonly slo_ms: Float64Array;
  readonly min_accuracy: Float64Array;
  readonly priority?: Int32Array;
  /** Images per request (default: `SimOptions.imagesPerRequest`, else 1). */
  readonly images?: Int32Array;
}

export interface SimOptions {
  readonly workers: number;
  readonly seed: number;
  /** Draw batch latency from the measured p50/p95 (log-normal) instead of using the p50. */
  readonly noise: boolean;
  readonly admission: AdmissionMode;
  /** Added to every batch (queue hop, tensor copies), ms; also what policies plan with. */
  readonly dispatchOverheadMs: number;
  /** Separately loaded variants an executor keeps (INFaaS baseline). */
  readonly maxLoadedVariants: number;
  /**
   * Early exits (src/sim/exit-model.ts): a batch on a subnet the model knows runs staged (the
   * profile's staged latency, noise alike); each request answers at its sampled exit, or with a
   * deadline answer at its deadline when a ramp finished before it. The policy gets an ExitView.
   */
  readonly exits?: ExitModel;
  /** Batch size the ExitView's answer fractions are computed at (default 16). */
  readonly exitViewBatch?: number;
  /** Images per request when the arrivals carry no `images` column (default 1). */
  readonly imagesPerRequest?: number;
  /**
   * The live server's costs besides the executor (serving-model.ts): the edge as a FIFO server,
   * processor sharing of the cores, the per-batch hand-off and the reply path. Absent: batches
   * take their profiled latency plus `dispatchOverheadMs`, as on a machine with a core to spare.
   */
  readonly serving?: ServingModel;
  /** The worker plans against the client's deadline less this (capped at a quarter of the budget), like the server's edgeMarginMs. */
  readonly edgeMarginMs?: number;
  /**
   * Batches allowed at once (default `workers`), as the live event-loop guard holds them
   * (src/worker/loop-guard.ts): with the edge and the executors in one process on this machine it
   * held one batch fewer in 457 of 460 windows of the 16-image demo trace, so a simulation of that
   * server runs `workers - 1`. The policy plans with this many executors, as the live worker does.
   */
  readonly maxConcurrent?: number;
}

export const SIM_DEFAULTS: SimOptions = Object.freeze({ workers: 1, seed: 1, noise: true, admission: 'off', dispatchOverheadMs: 0.2, maxLoadedVariants: 3 });

/** Per-request fate codes in `SimRun.status`. */
export const Fate = Object.freeze({ Pending: 0, Served: 1, DroppedExpired: 2, DroppedInfeasible: 3, Rejected: 4 } as const);

/** Everything a report needs, per request (typed arrays: a million requests stay cheap). */
export interface SimRun {
  readonly policy: string;
  readonly workers: number;
  readonly arrivals: SimArrivals;
  readonly status: Uint8Array;
  /** Completion time (served) or drop/reject time, ms. */
  readonly finish: Float64Array;
  /** Index into `subnets` of the subnet that served it; -1 when not served. */
  readonly subnet: Int16Array;
  readonly downgraded: Uint8Array;
  readonly subnets: readonly { readonly id: string; readonly accuracy: number }[];
  readonly batches: number;
  readonly variantLoads: number;
  readonly wallMs: number;
  /** Only with an exit model: per-request exit details. */
  readonly exits?: {
    /** 1 = answered at a ramp by the exit policy (before the final output). */
    readonly early: Uint8Array;
    /** 1 = a deadline answer: the exit came too late, the last finished ramp answered at the deadline. */
    readonly deadline: Uint8Array;
    /** Top-1 of the answer served (served requests; NaN otherwise). */
    readonly accuracy: Float32Array;
  };
}

interface Exec {
  id: number;
  busyUntil: number;
  running: readonly QueuedRequest[] | null;
  subnet: number;
  startedAt: number;
  tightest: number;
  loaded: string[];
  /** Staged run (exits): the batch's duration without the dispatch overhead, else -1. */
  stagedMs: number;
  /** Serving model: work left in full-speed ms, when it was last advanced, and the current speed. */
  remaining: number;
  last: number;
  speed: number;
  /** Batches running when it was dispatched, itself included. */
  concurrent: number;
  images: number;
}

export function simulate(arrivals: SimArrivals, table: LatencyTable, policy: Policy, options: Partial<SimOptions> = {}): SimRun {
  const o: SimOptions = { ...SIM_DEFAULTS, ...options };
  const wall0 = performance.now();
  const n = arrivals.t_ms.length;
  const status = new Uint8Array(n);
  const finish = new Float64Array(n);
  const served = new Int16Array(n).fill(-1);
  const downgraded = new Uint8Array(n);
  const rng = new SimRng(o.seed);
  const queue = new EdfQueue();
  const index = new Map(table.subnets.map((s) => [s.id, s.index]));
  const execs: Exec[] = Array.from({ length: o.workers }, (_, id) => ({
    id,
    busyUntil: 0,
    running: null,
    subnet: -1,
    startedAt: 0,
    tightest: 0,
    loaded: [],
    stagedMs: -1,
    remaining: 0,
    last: 0,
    speed: 1,
    concurrent: 0,
    images: 0,
  }));
  const sv = o.serving;
  const sizeOf = (i: number): number => Math.max(1, arrivals.images?.[i] ?? o.imagesPerRequest ?? 1);
  const imageRate = new ArrivalRate();
  const requestRate = new ArrivalRate();
  /** When the edge (event loop) is done with the requests it has been given. */
  let edgeFree = 0;
  const busyCount = (): number => execs.reduce((k, e) => k + (e.running !== null ? 1 : 0), 0);
  /** Event-loop busy share and client cores right now (serving model). */
  const loopShare = (now: number): number =>
    sv
      ? now >= edgeStart && now < edgeFree
        ? 1
        : Math.min(1, (sv.edge_busy_base ?? 0) + requestRate.rate(now) * sv.edge_ms_per_request + imageRate.rate(now) * sv.edge_ms_per_image)
      : 0;
  const clientShare = (now: number): number => (sv ? Math.min(sv.cores, requestRate.rate(now) * sv.client_ms_per_request) : 0);
  /** Processor sharing: bring every running batch's progress up to `now`. */
  const advance = (now: number): void => {
    if (!sv) return;
    for (const e of execs)
      if (e.running !== null) {
        e.remaining = Math.max(0, e.remaining - (now - e.last) * e.speed);
        e.last = now;
      }
  };
  /** Processor sharing: new speeds (the set of running batches or the load changed). */
  const reshare = (now: number): void => {
    if (!sv) return;
    const speed = shareOfCore(sv.cores, busyCount(), loopShare(now), clientShare(now));
    for (const e of execs)
      if (e.running !== null) {
        e.speed = speed;
        e.busyUntil = now + e.remaining / speed;
      }
  };
  const ex = o.exits;
  const exitView: ExitView | undefined = ex ? ex.view(table, o.exitViewBatch ?? 16) : undefined;
  const known = table.subnets.map((s) => (ex?.has(s.id) === true && table.exitCount(s.index) === (ex.subnet(s.id)?.stages.length ?? -1) ? (ex.subnet(s.id) ?? null) : null));
  // the model's top-1 is measured on a held-out half; shift it so its final output matches the
  // table's accuracy (the manifest's, full test set) and runs with and without exits compare fairly
  const accShift = known.map((m, si) => (m?.final_top1 !== undefined ? (table.subnets[si] as { accuracy: number }).accuracy - m.final_top1 : 0));
  const early = ex ? new Uint8Array(n) : null;
  const deadlineAns = ex ? new Uint8Array(n) : null;
  const accuracy = ex ? new Float32Array(n).fill(NaN) : null;
  let state = policy.init();
  let batches = 0;
  let variantLoads = 0;

  const concurrent = Math.max(1, Math.min(o.workers, o.maxConcurrent ?? o.workers));
  /** When a policy holding a batch back (queue delay) asked to decide again. */
  let wakeAt = Infinity;
  const dispatch = (e: Exec, now: number): void => {
    while (e.running === null && queue.length > 0 && busyCount() < concurrent) {
      const executor = { id: e.id, loaded: e.loaded, workers: concurrent, running: busyCount() };
      const arrivalRate = imageRate.rate(now);
      const { decision, state: next } = policy.decide(exitView ? { now, queue, executor, exits: exitView, arrivalRate } : { now, queue, executor, arrivalRate }, state);
      state = next;
      for (const d of decision.drops) {
        status[d.request.key] = d.reason === 'expired' ? Fate.DroppedExpired : Fate.DroppedInfeasible;
        finish[d.request.key] = now;
      }
      queue.take(decision.drops.map((d) => d.request));
      const run = decision.dispatch;
      if (run === null) {
        if (decision.retryAt !== undefined) {
          // a queue delay: ask again then (or sooner, on an arrival or a completion)
          wakeAt = Math.min(wakeAt, Math.max(now, decision.retryAt));
          return;
        }
        if (decision.drops.length === 0) return; // the policy chose to wait
        continue;
      }
      queue.take(run.requests);
      const si = index.get(run.subnet) as number;
      const b = Math.min(
        table.maxBatch,
        run.requests.reduce((k, r) => k + (r.size ?? 1), 0),
      );
      const staged = !policy.loadsVariants && known[si] != null;
      const st = staged ? table.stagedStats(si, b) : table.stats(si, b);
      let ms = o.noise ? rng.lognormal(st.p50, st.p95) : st.p50;
      e.stagedMs = staged ? ms : -1;
      if (policy.loadsVariants) {
        const at = e.loaded.indexOf(run.subnet);
        if (at >= 0) e.loaded.splice(at, 1);
        else {
          ms += table.loadMs(si) || 0;
          variantLoads++;
          if (e.loaded.length >= o.maxLoadedVariants) e.loaded.shift();
        }
        e.loaded.push(run.subnet); // most recently used last
      }
      e.running = run.requests;
      e.subnet = si;
      e.startedAt = now;
      e.busyUntil = now + o.dispatchOverheadMs + ms;
      e.tightest = Math.min(...run.requests.map((r) => r.deadline - r.arrival));
      e.images = b;
      e.concurrent = busyCount();
      if (sv) {
        e.remaining = sv.dispatch_ms + ms;
        e.last = now;
        reshare(now);
      }
      batches++;
    }
  };

  const complete = (e: Exec): void => {
    const now = e.busyUntil;
    const reply = sv ? sv.reply_ms : 0;
    const rs = e.running as readonly QueuedRequest[];
    let missed = 0;
    const m = e.stagedMs >= 0 ? known[e.subnet] : null;
    if (m && early && deadlineAns && accuracy) {
      // staged batch: each request answers at its sampled exit (times scaled like the batch)
      const cum = table.stageCumMs(e.subnet, rs.length);
      const nr = cum.length - 1;
      const start = e.startedAt + o.dispatchOverheadMs;
      const scale = e.stagedMs / (cum[nr] as number);
      const sid = (table.subnets[e.subnet] as { id: string }).id;
      for (const r of rs) {
        const j = ex ? ex.sample(sid, rng) : nr;
        let at = start + (cum[j] as number) * scale;
        const shift = accShift[e.subnet] as number;
        let acc = (m.top1[j] as number) + shift;
        if (at > r.deadline) {
          let k = -1;
          while (k + 1 < Math.min(j, nr) && start + (cum[k + 1] as number) * scale <= r.deadline) k++;
          if (k >= 0) {
            at = r.deadline;
            acc = (m.late_top1?.[k] ?? (m.top1[nr] as number)) + shift;
            deadlineAns[r.key] = 1;
          } else missed++;
        }
        if (j < nr && deadlineAns[r.key] === 0) early[r.key] = 1;
        status[r.key] = Fate.Served;
        finish[r.key] = at + reply;
        served[r.key] = e.subnet;
        accuracy[r.key] = Math.min(1, Math.max(0, acc));
      }
    } else
      for (const r of rs) {
        status[r.key] = Fate.Served;
        finish[r.key] = now + reply;
        served[r.key] = e.subnet;
        if (accuracy) accuracy[r.key] = (table.subnets[e.subnet] as { accuracy: number }).accuracy;
        // a miss as the client sees it (the reply path included), which is what the headroom
        // controller is meant to answer; without a serving model, against the worker's deadline
        if (sv ? now + reply > (arrivals.t_ms[r.key] as number) + (arrivals.slo_ms[r.key] as number) : now > r.deadline) missed++;
      }
    state = policy.observe(state, {
      subnet: (table.subnets[e.subnet] as { id: string }).id,
      batch: e.images,
      latencyMs: now - e.startedAt,
      tightestSloMs: e.tightest,
      missed,
      requests: rs.length,
      running: e.concurrent,
    });
    e.running = null;
  };

  /** When request `i` enters the queue: after the edge (serving model), else at its arrival. */
  let enqAt = NaN;
  /** When the edge started on the request it is busy with (serving model). */
  let edgeStart = 0;
  const enqueueTime = (k: number): number => {
    const t = arrivals.t_ms[k] as number;
    if (!sv) return t;
    if (Number.isNaN(enqAt)) {
      const cost = sv.edge_ms_per_request + sizeOf(k) * sv.edge_ms_per_image;
      edgeStart = Math.max(t, edgeFree);
      enqAt = edgeStart + cost / shareOfCore(sv.cores, busyCount(), 1, clientShare(t));
      edgeFree = enqAt;
    }
    return enqAt;
  };
  const margin = o.edgeMarginMs ?? 0;
  let i = 0;
  for (;;) {
    let next: Exec | null = null;
    for (const e of execs) if (e.running !== null && (next === null || e.busyUntil < next.busyUntil)) next = e;
    const ta = i < n ? enqueueTime(i) : Infinity;
    if (next === null && ta === Infinity && (wakeAt === Infinity || queue.length === 0)) break;
    if (wakeAt < ta && (next === null || wakeAt < next.busyUntil)) {
      const at = wakeAt;
      wakeAt = Infinity;
      advance(at);
      for (const e of execs) if (e.running === null) dispatch(e, at);
      reshare(at);
      continue;
    }
    if (next !== null && next.busyUntil <= ta) {
      const at = next.busyUntil;
      advance(at);
      complete(next);
      reshare(at);
      dispatch(next, at);
      continue;
    }
    const now = ta;
    advance(now);
    const t = arrivals.t_ms[i] as number;
    const slo = arrivals.slo_ms[i] as number;
    const minAcc = arrivals.min_accuracy[i] as number;
    const size = sizeOf(i);
    const r: QueuedRequest = {
      key: i,
      arrival: t,
      // the worker plans against the client's deadline less the reply margin, as the server does
      deadline: t + slo - Math.min(margin, slo / 4),
      minAccuracy: Number.isNaN(minAcc) ? 0 : minAcc,
      priority: arrivals.priority?.[i] ?? 0,
      sheddable: true,
      ...(size !== 1 ? { size } : {}),
    };
    i++;
    enqAt = NaN;
    imageRate.add(now, size);
    requestRate.add(now, 1);
    let soonest = Infinity;
    for (const e of execs) soonest = Math.min(soonest, e.running === null ? now : e.busyUntil);
    const verdict = admit(table, o.admission, {
      now,
      deadline: r.deadline,
      minAccuracy: r.minAccuracy,
      queuedAhead: queue.images, // images, as the live frontend counts them (backlog.ts)
      workers: o.workers,
      soonestFree: soonest,
      dispatchOverheadMs: o.dispatchOverheadMs,
    });
    if (verdict === 'reject') {
      status[r.key] = Fate.Rejected;
      finish[r.key] = now;
      reshare(now);
      continue;
    }
    if (verdict === 'downgrade') downgraded[r.key] = 1;
    queue.push(verdict === 'downgrade' ? { ...r, minAccuracy: 0 } : r);
    for (const e of execs) if (e.running === null) dispatch(e, now);
    reshare(now);
  }
  return {
    policy: policy.name,
    workers: o.workers,
    arrivals,
    status,
    finish,
    subnet: served,
    downgraded,
    subnets: table.subnets.map((s) => ({ id: s.id, accuracy: s.accuracy })),
    batches,
    variantLoads,
    wallMs: performance.now() - wall0,
    ...(early && deadlineAns && accuracy ? { exits: { early, deadline: deadlineAns, accuracy } } : {}),
  };
}
