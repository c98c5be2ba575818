/**
 * Queue hop: frontend -> request queue -> worker -> reply -> frontend, with a trivial model (the
 * worker echoes at once), so what is measured is the queue. Payload: one 28x28 FP32 image
 * (3,136 bytes). The frontend is this process; the echo worker is a child process (Redis) or an
 * async loop in this process (in-process queue: the same-run baseline).
 *   (a) open loop at --rate req/s (default 2,000) for --duration-s: hop latency p50/p95/p99,
 *       timed from the enqueue call to the reply's arrival (goal: p50 <= 1.5 ms)
 *   (b) closed loop with --inflight requests outstanding: sustained throughput (goal >= 5,000/s)
 *       and CPU microseconds per request of the frontend, the worker and Redis (robust to the
 *       noise of a shared 2-core machine, unlike latency)
 *   (c) open-loop steps (--steps, default 5k,10k,15k,20k req/s): completions/s and latency
 * for Redis Streams with stream replies and with pub/sub replies (reps interleaved, so drifting
 * background load hits both alike), the in-process queue, and BullMQ with one job per request
 * (a low rate and a closed loop) for the ratio. JSON on stdout (medians over --reps), progress on
 * stderr, also written to --out (bench/results/queue-hop.json).
 *
 *   npx tsc -p tsconfig.bench.json && node dist-bench/bench/serving/queue-hop.js --reps 3
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Queue, QueueEvents, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { createQueue, type InferenceReply, type QueuedInference, type RequestQueue } from '../../src/queue/index.js';
import { deleteKeysUnder } from '../../src/queue/redis-keys.js';
import { RedisQueue, type ReplyTransport } from '../../src/queue/redis-queue.js';
import { closedLoop, openLoop, r3, type Hop, type Summary } from './queue-hop-load.js';

const { values: opt } = parseArgs({
  options: {
    role: { type: 'string', default: 'main' },
    url: { type: 'string', default: 'redis://127.0.0.1:6379' },
    prefix: { type: 'string', default: '' },
    transport: { type: 'string', default: 'stream' },
    autopipeline: { type: 'string', default: 'on' },
    rate: { type: 'string', default: '2000' },
    'duration-s': { type: 'string', default: '10' },
    inflight: { type: 'string', default: '512' },
    'closed-s': { type: 'string', default: '5' },
    steps: { type: 'string', default: '5000,10000,15000,20000' },
    'step-s': { type: 'string', default: '3' },
    reps: { type: 'string', default: '3' },
    'bull-rate': { type: 'string', default: '200' },
    out: { type: 'string', default: 'bench/results/queue-hop.json' },
    /** Development: only these scenarios (stream,pubsub,memory,bullmq); progress lines only. */
    only: { type: 'string', default: '' },
  },
});

const IMAGE_BYTES = 28 * 28 * 4;
const IMAGE = new Uint8Array(randomBytes(IMAGE_BYTES));
const LOGITS = new Uint8Array(40); // 10 FP32 classes
const FRONTEND = 'bench-fe';
const log = (s: string): void => void process.stderr.write(`${s}\n`);

function redisQueue(prefix: string, replyTransport: ReplyTransport): RequestQueue {
  return new RedisQueue({ url: opt.url, prefix, replyTransport, autoPipelining: opt.autopipeline === 'on' });
}

function echo(r: QueuedInference, worker: string): InferenceReply {
  return {
    id: r.id,
    ok: true,
    final: true,
    subnet: 'echo',
    exit: null,
    logits: LOGITS,
    classes: [0],
    queueUs: 0,
    computeUs: 0,
    deadlineMet: true,
    downgraded: false,
    worker,
  };
}

/** The echo worker: pull up to 256, reply to each, ack; replies and acks go out pipelined. */
async function echoLoop(q: RequestQueue, name: string, running: () => boolean): Promise<void> {
  while (running()) {
    const ds = await q.pull(name, 256, 500);
    if (ds.length === 0) continue;
    const sends = ds.map((d) => q.reply(echo(d.request, name), d.request.frontend));
    void Promise.all([...sends, q.ack(ds)]).catch((e: unknown) => log(`worker: ${String(e)}`));
  }
}

// ---- child roles -------------------------------------------------------------------------

async function streamsWorker(): Promise<void> {
  const q = redisQueue(opt.prefix, opt.transport as ReplyTransport);
  let running = true;
  process.on('SIGTERM', () => (running = false));
  await q.pull('echo-worker', 1, 1); // connects, creates the group, registers the worker
  process.stdout.write('ready\n');
  await echoLoop(q, 'echo-worker', () => running);
  await q.close();
}

const BULL_CONNECTION = { host: '127.0.0.1', port: 6379, protocol: 2, maxRetriesPerRequest: null };

async function bullWorker(): Promise<void> {
  const w = new Worker('hop', async (job) => ({ id: (job.data as { id: string }).id }), {
    connection: BULL_CONNECTION,
    prefix: opt.prefix,
    concurrency: 64,
  });
  await w.waitUntilReady();
  process.stdout.write('ready\n');
  await once(process, 'SIGTERM');
  await w.close();
}

async function child(role: string, args: string[]): Promise<ChildProcess> {
  const c = spawn(process.execPath, [fileURLToPath(import.meta.url), '--role', role, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  await once(c.stdout!, 'data');
  return c;
}
async function stop(c: ChildProcess): Promise<void> {
  const exited = once(c, 'exit');
  c.kill('SIGTERM');
  await exited;
}

const admin = new Redis(opt.url, { protocol: 2, lazyConnect: true });

function requestOf(seq: number): QueuedInference {
  const now = Date.now();
  return {
    id: `${FRONTEND}:${seq}`,
    frontend: FRONTEND,
    model: 'echo',
    arrivalMs: now,
    deadlineMs: now + 60_000,
    minAccuracy: 0,
    priority: 0,
    sheddable: false,
    sloClass: 'bench',
    downgraded: false,
    shape: [1, 1, 28, 28],
    data: IMAGE,
  };
}

/** A frontend on a RequestQueue: enqueue, and a reply subscription resolving sequence numbers. */
async function queueHop(q: RequestQueue, workerPid?: number): Promise<{ hop: Hop; close: () => Promise<void> }> {
  let outstanding = 0;
  let errors = 0;
  const hop: Hop = {
    send: (seq) => {
      outstanding++;
      q.enqueue(requestOf(seq)).catch(() => {
        outstanding--;
        errors++;
      });
    },
    onDone: () => {},
    outstanding: () => outstanding,
    workerPid,
  };
  const unsub = await q.subscribeReplies(FRONTEND, (r) => {
    outstanding--;
    hop.onDone(Number(r.id.slice(FRONTEND.length + 1)));
  });
  return {
    hop,
    close: async () => {
      await unsub();
      if (errors > 0) log(`  ${errors} enqueue errors`);
    },
  };
}

const deleteKeys = (prefix: string): Promise<number> => deleteKeysUnder(admin, prefix);

/** Runs `body` against a fresh Redis queue with an echo worker process. */
async function withRedis<T>(transport: ReplyTransport, body: (hop: Hop) => Promise<T>): Promise<T> {
  const prefix = `bench-hop-${process.pid}-${transport}`;
  const worker = await child('streams-worker', ['--url', opt.url, '--prefix', prefix, '--transport', transport, '--autopipeline', opt.autopipeline]);
  const q = redisQueue(prefix, transport);
  const fe = await queueHop(q, worker.pid);
  try {
    await openLoop(fe.hop, 500, 1); // warm-up: connections, JIT
    return await body(fe.hop);
  } finally {
    await fe.close();
    await q.close();
    await stop(worker);
    await deleteKeys(prefix);
  }
}

/** Runs `body` against the in-process queue, the echo worker a loop in this process. */
async function withMemory<T>(body: (hop: Hop) => Promise<T>): Promise<T> {
  const q = createQueue({});
  let running = true;
  const loop = echoLoop(q, 'echo-worker', () => running);
  const fe = await queueHop(q);
  try {
    await openLoop(fe.hop, 500, 1);
    return await body(fe.hop);
  } finally {
    running = false;
    await fe.close();
    await q.close();
    await loop;
  }
}

interface Rep {
  readonly open_loop: Summary;
  readonly closed_loop: Summary;
}
const rate = Number(opt.rate);
const durationS = Number(opt['duration-s']);
const closedS = Number(opt['closed-s']);
const inflight = Number(opt.inflight);
const stepRates = opt.steps.split(',').filter(Boolean).map(Number);
const stepS = Number(opt['step-s']);

async function rep(label: string, hop: Hop): Promise<Rep> {
  const a = await openLoop(hop, rate, durationS);
  log(`${label}: open loop ${rate}/s: p50 ${a.p50_ms} p95 ${a.p95_ms} p99 ${a.p99_ms} ms`);
  const b = await closedLoop(admin, hop, inflight, closedS);
  const cpu = b.cpu_us_per_request!;
  log(`${label}: closed loop ${inflight} in flight: ${b.achieved_rps}/s, p50 ${b.p50_ms} ms; CPU us/req fe ${cpu.frontend} worker ${cpu.worker} redis ${cpu.redis}`);
  return { open_loop: a, closed_loop: b };
}

async function steps(label: string, hop: Hop): Promise<Summary[]> {
  const out: Summary[] = [];
  for (const r of stepRates) {
    const s = await openLoop(hop, r, stepS);
    log(`${label}: step ${r}/s: ${s.achieved_rps}/s completed, p50 ${s.p50_ms} p99 ${s.p99_ms} ms`);
    out.push(s);
  }
  return out;
}

/** BullMQ, one job per request: add() with the image as base64 JSON; completion via QueueEvents. */
async function bullScenario(): Promise<Rep> {
  const prefix = `bench-hop-${process.pid}-bull`;
  const worker = await child('bull-worker', ['--prefix', prefix]);
  const queue = new Queue('hop', { connection: BULL_CONNECTION, prefix });
  const events = new QueueEvents('hop', { connection: BULL_CONNECTION, prefix });
  await events.waitUntilReady();
  let outstanding = 0;
  // Job ids must not repeat across runs (BullMQ ignores a known id): each run starts at `base`.
  let base = 0;
  const image = Buffer.from(IMAGE).toString('base64');
  const hop: Hop = {
    send: (seq) => {
      outstanding++;
      const id = `j${base + seq}`;
      void queue.add('hop', { id, image }, { jobId: id, removeOnComplete: true, removeOnFail: true });
    },
    onDone: () => {},
    outstanding: () => outstanding,
    workerPid: worker.pid,
  };
  events.on('completed', ({ jobId }) => {
    outstanding--;
    hop.onDone(Number(jobId.slice(1)) - base);
  });
  try {
    const bullRate = Number(opt['bull-rate']);
    const a = await openLoop(hop, bullRate, Math.min(5, durationS));
    log(`bullmq: open loop ${bullRate}/s: p50 ${a.p50_ms} p95 ${a.p95_ms} p99 ${a.p99_ms} ms`);
    base = 1_000_000;
    const b = await closedLoop(admin, hop, 64, closedS);
    const cpu = b.cpu_us_per_request!;
    log(`bullmq: closed loop 64 in flight: ${b.achieved_rps}/s, p50 ${b.p50_ms} ms; CPU us/req fe ${cpu.frontend} worker ${cpu.worker} redis ${cpu.redis}`);
    return { open_loop: a, closed_loop: b };
  } finally {
    await events.close();
    await queue.obliterate({ force: true }).catch(() => {});
    await queue.close();
    await stop(worker);
    await deleteKeys(prefix);
  }
}

function median(v: readonly number[]): number {
  const s = [...v].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}
/** Medians over reps of the figures that matter. */
function medians(reps: readonly Rep[]): Record<string, number> {
  const o = (k: keyof Summary): number => r3(median(reps.map((r) => Number(r.open_loop[k]))));
  const c = (k: keyof Summary): number => r3(median(reps.map((r) => Number(r.closed_loop[k]))));
  const cpu = (k: string): number => r3(median(reps.map((r) => r.closed_loop.cpu_us_per_request?.[k] ?? NaN)));
  return {
    open_p50_ms: o('p50_ms'),
    open_p95_ms: o('p95_ms'),
    open_p99_ms: o('p99_ms'),
    closed_rps: Math.round(c('achieved_rps')),
    closed_p50_ms: c('p50_ms'),
    cpu_us_per_req_frontend: cpu('frontend'),
    cpu_us_per_req_worker: cpu('worker'),
    cpu_us_per_req_redis: cpu('redis'),
    cpu_us_per_req_total: cpu('total'),
  };
}

async function main(): Promise<void> {
  await admin.connect();
  const load0 = loadavg();
  log(`queue-hop: ${cpus().length} cpus, load ${load0.map((l) => l.toFixed(2)).join(' ')}`);
  const reps = Number(opt.reps);
  const only = opt.only === '' ? ['stream', 'pubsub', 'memory', 'bullmq'] : opt.only.split(',');
  const runs: Record<'stream' | 'pubsub' | 'memory', Rep[]> = { stream: [], pubsub: [], memory: [] };
  for (let i = 0; i < reps; i++) {
    for (const t of ['stream', 'pubsub'] as const)
      if (only.includes(t)) runs[t].push(await withRedis(t, (hop) => rep(`redis/${t} #${i + 1}`, hop)));
    if (only.includes('memory')) runs.memory.push(await withMemory((hop) => rep(`memory #${i + 1}`, hop)));
  }
  const stepRuns: Record<string, Summary[]> = {};
  for (const t of ['stream', 'pubsub'] as const) if (only.includes(t)) stepRuns[t] = await withRedis(t, (hop) => steps(`redis/${t}`, hop));
  if (only.includes('memory')) stepRuns.memory = await withMemory((hop) => steps('memory', hop));
  const bull = only.includes('bullmq') ? await bullScenario() : undefined;
  admin.disconnect();
  if (opt.only !== '') return;

  const m = { stream: medians(runs.stream), pubsub: medians(runs.pubsub), memory: medians(runs.memory) };
  const best = (s: Summary[] | undefined): number => Math.max(...(s ?? []).map((x) => x.achieved_rps));
  const result = {
    bench: 'queue-hop',
    command: `node dist-bench/bench/serving/queue-hop.js ${process.argv.slice(2).join(' ')}`.trim(),
    host: { cpus: cpus().length, loadavg_start: load0.map(r3), loadavg_end: loadavg().map(r3) },
    payload_bytes: IMAGE_BYTES,
    reps,
    open_loop_rps: rate,
    closed_loop_inflight: inflight,
    goals: { hop_p50_ms_at_2000_rps: 1.5, sustained_rps: 5000 },
    medians: {
      redis_stream_replies: { ...m.stream, best_step_rps: best(stepRuns.stream) },
      redis_pubsub_replies: { ...m.pubsub, best_step_rps: best(stepRuns.pubsub) },
      memory: { ...m.memory, best_step_rps: best(stepRuns.memory) },
      bullmq_job_per_request: bull && {
        [`open_${opt['bull-rate']}_p50_ms`]: bull.open_loop.p50_ms,
        [`open_${opt['bull-rate']}_p99_ms`]: bull.open_loop.p99_ms,
        closed_64_rps: bull.closed_loop.achieved_rps,
        closed_64_p50_ms: bull.closed_loop.p50_ms,
        cpu_us_per_req: bull.closed_loop.cpu_us_per_request,
      },
    },
    ratios: {
      stream_over_pubsub_open_p50: r3(m.stream.open_p50_ms! / m.pubsub.open_p50_ms!),
      stream_over_pubsub_closed_rps: r3(m.stream.closed_rps! / m.pubsub.closed_rps!),
      stream_over_pubsub_cpu_per_req: r3(m.stream.cpu_us_per_req_total! / m.pubsub.cpu_us_per_req_total!),
      redis_stream_over_memory_open_p50: r3(m.stream.open_p50_ms! / m.memory.open_p50_ms!),
      memory_over_redis_stream_closed_rps: r3(m.memory.closed_rps! / m.stream.closed_rps!),
      redis_stream_over_bullmq_closed_rps: bull ? r3(m.stream.closed_rps! / bull.closed_loop.achieved_rps) : null,
      bullmq_over_redis_stream_cpu_per_req: bull ? r3(bull.closed_loop.cpu_us_per_request!.total! / m.stream.cpu_us_per_req_total!) : null,
    },
    goals_met: {
      hop_p50: m.stream.open_p50_ms! <= 1.5,
      sustained_rps: m.stream.closed_rps! >= 5000,
    },
    runs: { ...runs, steps: stepRuns, bullmq: bull },
  };
  const text = JSON.stringify(result, null, 1);
  console.log(text);
  mkdirSync('bench/results', { recursive: true });
  writeFileSync(opt.out, `${text}\n`);
}

if (opt.role === 'streams-worker') await streamsWorker();
else if (opt.role === 'bull-worker') await bullWorker();
else await main();
