/**
 * Overload: a burst of 10x the sustainable rate against a real server, and what admission makes
 * of it. The server runs in its own processes: `slackserve frontend` + `slackserve worker` over
 * Redis (default, --server split; a unique queue prefix) or `slackserve serve` (--server embedded).
 *   1. capacity: after --warmup-s of the same, a closed loop (--inflight calls outstanding, a
 *      generous budget so nothing is shed) for --capacity-s: the sustainable rate C, requests/s
 *      of --images images (with the subnets that served it and their median server time:
 *      capacity_subnets, capacity_server_median_ms); or C given with --capacity-rps (no closed loop);
 *   2. an open loop at --base x C (0.5) for --before-s, then --factor x C (10) for --burst-s,
 *      then --base x C again for --after-s; every request has the --slo-ms budget.
 * Reported (JSON on stdout, progress on stderr, also written to --out when given; the per-phase
 * figures are computed in overload-report.ts): per phase the
 * offered and sent rates, calls admitted (answered, or failed after admission) and answered
 * within the SLO (timed at the client from the send), shed counts by status and reason (the
 * numbers in the message masked), calls unanswered at the end (must be 0), the frontend's RSS
 * before the burst, its peak and after, and the recovery time: from the burst's end to the start
 * of the first 250 ms window of sends whose calls all were answered within the SLO. Also: the
 * frontend's own slo_outcome counts over the open loop beside the client's (server_vs_client),
 * and the client's CPU per call and p99 send lateness per phase; a phase whose sends ran more than
 * 5 ms late is flagged (client.limited_phases, and a warning line): it partly measures the client.
 * Each answer also records how stale the client's own loop was when it read it (a 1 ms ticker:
 * Rec.staleMs); answers late only by that are counted (late_answers.late_by_client_stall, a
 * warning line) and the share is given without them too (admitted_within_slo_share_net_of_client_stalls).
 * The client (--transport h2, default) sends one pre-encoded request per budget on node:http2
 * streams (src/client/h2-unary.ts); --transport grpc-js is the old OipClient.
 * With --burst-driver h2load (default) h2load sends (factor - probe) x C of the burst and this client
 * probe x C among them (the same bytes, so the server cannot tell them apart): the burst phase's
 * figures are that timed sample, and h2load's calls count in the server's own outcomes. Late
 * answers are split by the answer's own slackserve.server_us (late_answers): late by the server's
 * clock, or only as the client timed them. --server-nice N starts the server's processes at
 * niceness N, so the load generators get the cores first; --server-cpus / --client-cpus pin the
 * server (with a local Redis) and the load generators to separate cores instead.
 *
 *   npm run build && npx tsc -p tsconfig.bench.json && node dist-bench/bench/serving/overload.js
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { Redis } from 'ioredis';
import { H2UnaryClient } from '../../src/client/h2-unary.js';
import { OipClient } from '../../src/client/oip-client.js';
import { deleteKeysUnder } from '../../src/queue/redis-keys.js';
import { ensureH2load, runH2load, writeBody, type H2loadRun } from './edge-h2load.js';
import { Catalogue } from '../../src/supernet/catalogue.js';
import { loadTestSample } from '../../src/supernet/sample.js';
import { isRealtime, raiseToRealtime } from '../../src/client/priority.js';
import { log, SUPERNET } from './common.js';
import { pinProcess, quantile, rssMb, serverTiming, sloOutcomes, start, type Phase, type Proc, type Rec } from './overload-procs.js';
import { lateByClientStall, phaseSummary, recoveryAfterBurst, withinSlo } from './overload-report.js';

const { values: opt } = parseArgs({
  options: {
    server: { type: 'string', default: 'split' },
    redis: { type: 'string', default: 'redis://127.0.0.1:6379' },
    images: { type: 'string', default: '16' },
    'slo-ms': { type: 'string', default: '100' },
    threads: { type: 'string', default: '2' },
    inflight: { type: 'string', default: '32' },
    'warmup-s': { type: 'string', default: '2' },
    'capacity-s': { type: 'string', default: '4' },
    // C given instead of measured (requests/s; 0: measured by the closed loop). The measured C
    // follows the subnets the policy picks in the closed loop and moved 2-5x between runs on this
    // machine, and the burst (factor x C) with it: A/B pairs compare like with like only at one C
    'capacity-rps': { type: 'string', default: '0' },
    base: { type: 'string', default: '0.5' },
    factor: { type: 'string', default: '10' },
    'before-s': { type: 'string', default: '3' },
    'burst-s': { type: 'string', default: '2' },
    'after-s': { type: 'string', default: '5' },
    channels: { type: 'string', default: '4' },
    // the server's processes run at this niceness, so the load generator (nice 0) gets the cores
    // first and its clock is not what a run measures (0: same priority)
    'server-nice': { type: 'string', default: '0' },
    // realtime: this client (and h2load, its child) run SCHED_RR and the server's processes
    // SCHED_OTHER, so the load generators keep their schedule (src/client/priority.ts); auto:
    // realtime where allowed (root), else normal
    'client-priority': { type: 'string', default: 'auto' },
    // h2: pre-encoded requests on node:http2 streams (src/client/h2-unary.ts), about a third of
    // grpc-js's client CPU per call; grpc-js: OipClient, encoding every call (the old client)
    transport: { type: 'string', default: 'h2' },
    // who sends the burst: h2load (C, 36-81 µs of CPU per call measured here) sends (factor - probe) x capacity and
    // this client keeps sending probe x capacity among them, timed per call; or this client alone
    // ('client': ~300 µs of CPU per call, more than a core at 10x on this machine)
    'burst-driver': { type: 'string', default: 'h2load' },
    // h2load's concurrent streams per connection (-m, 4 connections): how hard the burst leans on the door
    'burst-streams': { type: 'string', default: '256' },
    probe: { type: 'string', default: '1' },
    // CPU isolation (taskset lists, e.g. --server-cpus 0 --client-cpus 1): the server's processes
    // (and, split, the local Redis they use) run only on --server-cpus, this client and h2load only
    // on --client-cpus, so the load generators cannot take the server's cores (as on separate
    // machines); empty: no pinning, everything shares every core
    'server-cpus': { type: 'string', default: '' },
    'client-cpus': { type: 'string', default: '' },
    out: { type: 'string', default: '' },
  },
});

const IMAGES = Number(opt.images);
const SLO_MS = Number(opt['slo-ms']);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
/** p99 send lateness over which a phase is flagged client-limited (the replay's rule, docs/replay.md). */
const CLIENT_LATE_MS = 5;

const cat = Catalogue.load(SUPERNET);
const sample = loadTestSample(cat);
const MODEL = cat.manifest.name;
const INPUT = cat.manifest.input.name;
const images = sample.x.slice(0, IMAGES * cat.sampleSize);

async function main(): Promise<void> {
  const wantRt = opt['client-priority'];
  if (wantRt !== 'auto' && wantRt !== 'realtime' && wantRt !== 'normal') throw new Error(`--client-priority: auto, realtime or normal, not '${wantRt}'`);
  const byH2load = opt['burst-driver'] === 'h2load';
  if (!byH2load && opt['burst-driver'] !== 'client') throw new Error(`--burst-driver: h2load or client, not '${opt['burst-driver']}'`);
  const raised = wantRt !== 'normal' && raiseToRealtime();
  if (wantRt === 'realtime' && !raised) throw new Error('--client-priority realtime: chrt -r failed (needs root and util-linux chrt)');
  const serverCpus = opt['server-cpus'] ?? '';
  const clientCpus = opt['client-cpus'] ?? '';
  if (clientCpus !== '') pinProcess(process.pid, clientCpus);
  // the split server's Redis is one of its processes: pinned with it, its old CPUs restored at the end
  let redisPin: { pid: number; before: string } | undefined;
  if (serverCpus !== '' && opt.server !== 'embedded') {
    const r = new Redis(opt.redis ?? '');
    const pid = Number(/process_id:(\d+)/.exec(await r.info('server'))?.[1]);
    r.disconnect();
    if (Number.isFinite(pid) && pid > 0) redisPin = { pid, before: pinProcess(pid, serverCpus) };
  }
  // Redis outlives this bench: its CPUs are given back however the bench ends (exit handlers run synchronously)
  const unpinRedis = (): void => {
    if (redisPin && redisPin.before !== '') pinProcess(redisPin.pid, redisPin.before);
    redisPin = undefined;
  };
  process.once('exit', unpinRedis);
  const prefix = `slackserve-overload-bench-${process.pid}`;
  const env = { SLACKSERVE_QUEUE_PREFIX: prefix, SLACKSERVE_EXECUTOR_THREADS: opt.threads ?? '2' };
  const procs: Proc[] = [];
  let frontendPid: number | undefined;
  let target = '';
  let metricsPort: number | undefined;
  if (opt.server === 'embedded') {
    const s = await start('serve', [], env, Number(opt['server-nice']), serverCpus);
    procs.push(s);
    frontendPid = s.child.pid;
    metricsPort = s.ports?.http;
    target = `127.0.0.1:${s.ports?.grpc}`;
  } else {
    procs.push(await start('worker', ['--redis', opt.redis ?? ''], env, Number(opt['server-nice']), serverCpus));
    const f = await start('frontend', ['--redis', opt.redis ?? ''], env, Number(opt['server-nice']), serverCpus);
    procs.push(f);
    frontendPid = f.child.pid;
    metricsPort = f.ports?.http;
    target = `127.0.0.1:${f.ports?.grpc}`;
  }
  // several channels: one HTTP/2 connection would queue the burst behind its stream limit
  const channels = Number(opt.channels);
  const useH2 = opt.transport === 'h2';
  if (!useH2 && opt.transport !== 'grpc-js') throw new Error(`--transport: h2 or grpc-js, not '${opt.transport}'`);
  const clients = useH2 ? [] : Array.from({ length: channels }, (_, i) => new OipClient(target, { 'grpc.channel_id': i } as grpc.ChannelOptions));
  const h2 = useH2 ? Array.from({ length: channels }, () => new H2UnaryClient(target)) : [];
  // one pre-encoded request per budget: the same images, so the client encodes nothing per call
  const bodies = new Map<number, Buffer>();
  const bodyFor = (budgetMs: number): Buffer => {
    let b = bodies.get(budgetMs);
    if (b === undefined) {
      const w = writeBody(IMAGES, budgetMs);
      b = readFileSync(w.file);
      rmSync(w.file, { force: true });
      bodies.set(budgetMs, b);
    }
    return b;
  };
  if (byH2load) ensureH2load();
  // h2load's copy of the request (bodyFor's temp file is removed once read)
  const burstBodyFile = join(tmpdir(), `overload-burst-${process.pid}.bin`);
  const masked = (code: number, details: string): string => `${grpc.status[code]} ${details.replace(/\d+(\.\d+)?/g, 'N')}`;
  try {
    if (useH2) {
      for (const c of h2) if (!(await c.connect(30_000))) throw new Error(`cannot connect to ${target}`);
    } else await clients[0]!.waitReady(30_000);
    const call = (i: number, budgetMs: number): Promise<{ ok: boolean; status: string; res?: Buffer; queuedMs?: number }> => {
      if (useH2) {
        const body = bodyFor(budgetMs);
        return new Promise((resolve) =>
          h2[i % h2.length]!.call('/inference.GRPCInferenceService/ModelInfer', body, Date.now() + 120_000, (err, res, info) => {
            const queued = info ? { queuedMs: info.queuedMs } : {};
            resolve(err === null ? { ok: true, status: 'OK', ...(res ? { res } : {}), ...queued } : { ok: false, status: masked(err.code, err.details), ...queued });
          }),
        );
      }
      return clients[i % clients.length]!.infer({ model: MODEL, images, shape: [IMAGES, ...cat.manifest.input.shape.slice(1)], inputName: INPUT, params: { 'slackserve.latency_budget_ms': budgetMs } }).then(
        () => ({ ok: true, status: 'OK' }),
        (e: grpc.ServiceError) => ({ ok: false, status: masked(e.code, e.details) }),
      );
    };

    // 1. capacity, closed loop, nothing shed (after a warm-up not counted: first batches are slow)
    const closedLoop = async (seconds: number): Promise<number> => {
      const end = performance.now() + seconds * 1000;
      let n = 0;
      await Promise.all(
        Array.from({ length: Number(opt.inflight) }, async (_, k) => {
          for (let i = k; performance.now() < end; i += Number(opt.inflight)) if ((await call(i, 60_000)).ok) n++;
        }),
      );
      return n;
    };
    await closedLoop(Number(opt['warmup-s']));
    const capEnd = performance.now() + Number(opt['capacity-s']) * 1000;
    let answered = 0;
    // which subnets the closed loop was served by (its 60 s budget lets the policy pick large
    // ones): the capacity, and so the burst's size, depends on it
    const capSubnets: Record<string, number> = {};
    const capServerMs: number[] = [];
    const t0 = performance.now();
    const givenCapacity = Number(opt['capacity-rps']);
    if (!(givenCapacity >= 0)) throw new Error(`--capacity-rps: a rate >= 0, not '${opt['capacity-rps']}'`);
    await Promise.all(
      Array.from({ length: givenCapacity > 0 ? 0 : Number(opt.inflight) }, async (_, k) => {
        for (let i = k; performance.now() < capEnd; i += Number(opt.inflight)) {
          const r = await call(i, 60_000);
          if (!r.ok) continue;
          answered++;
          const t = serverTiming(r.res);
          if (t === undefined) continue;
          capSubnets[t.subnet] = (capSubnets[t.subnet] ?? 0) + 1;
          capServerMs.push(t.serverMs);
        }
      }),
    );
    const capacity = givenCapacity > 0 ? givenCapacity : answered / ((performance.now() - t0) / 1000);
    log(`capacity: ${capacity.toFixed(0)} req/s of ${IMAGES} images${givenCapacity > 0 ? ' (given: --capacity-rps)' : ''}`);
    await sleep(1_000);

    // 2. open loop: base, burst, base
    const recs: Rec[] = [];
    const pending: Promise<void>[] = [];
    let rssBefore = rssMb(frontendPid);
    let rssPeak = rssBefore;
    const sampler = setInterval(() => (rssPeak = Math.max(rssPeak, rssMb(frontendPid))), 50);
    const cpu0 = process.cpuUsage();
    const loopDelay = monitorEventLoopDelay({ resolution: 5 });
    loopDelay.enable();
    // the client's own loop: each answer records how long ago the loop last ran this ticker
    // (Rec.staleMs), so a late answer the client read late can be told from one the server sent late
    let lastTick = performance.now();
    const ticker = setInterval(() => (lastTick = performance.now()), 1);
    const outcomes0 = await sloOutcomes(metricsPort);
    if (byH2load) writeFileSync(burstBodyFile, bodyFor(SLO_MS));
    const probeRate = byH2load ? Math.min(Number(opt.probe), Number(opt.factor)) * capacity : Number(opt.factor) * capacity;
    const h2loadRate = Number(opt.factor) * capacity - probeRate;
    let h2loadRun: Promise<H2loadRun> | undefined;
    const phases: [Phase, number, number][] = [
      ['before', Number(opt.base) * capacity, Number(opt['before-s'])],
      ['burst', probeRate, Number(opt['burst-s'])],
      ['after', Number(opt.base) * capacity, Number(opt['after-s'])],
    ];
    const bounds: Record<Phase, [number, number]> = { before: [0, 0], burst: [0, 0], after: [0, 0] };
    let i = 0;
    for (const [phase, rate, seconds] of phases) {
      if (phase === 'burst') {
        rssBefore = rssMb(frontendPid);
        if (byH2load && h2loadRate > 0)
          h2loadRun = runH2load({ port: Number(target.split(':')[1]), body: burstBodyFile, seconds, clients: 4, streams: Number(opt['burst-streams']), rate: h2loadRate });
      }
      const start = performance.now();
      bounds[phase] = [start, start + seconds * 1000];
      for (let k = 0; ; k++) {
        const at = start + (k * 1000) / rate;
        if (at >= start + seconds * 1000) break;
        const wait = at - performance.now();
        if (wait > 1) await sleep(wait);
        const sentAt = performance.now();
        const rec: Rec = { phase, sentAt, lateMs: sentAt - at };
        recs.push(rec);
        pending.push(
          call(i++, SLO_MS).then((r) => {
            rec.doneAt = performance.now();
            rec.staleMs = Math.max(0, rec.doneAt - lastTick);
            rec.ok = r.ok;
            rec.status = r.status;
            if (r.queuedMs !== undefined) rec.queuedMs = r.queuedMs;
            const t = serverTiming(r.res);
            if (t) rec.server = t;
          }),
        );
      }
    }
    const burstLoad = h2loadRun ? await h2loadRun : undefined;
    // the burst driver's own CPU (cores) and whether it sent under 90% of its offered rate
    const driverCores = burstLoad ? burstLoad.cpuS / Math.max(1e-9, burstLoad.durationS) : 0;
    const driverUnder = burstLoad ? burstLoad.done / burstLoad.durationS < 0.9 * h2loadRate : false;
    const drained = await Promise.race([Promise.all(pending).then(() => true), sleep(60_000).then(() => false)]);
    clearInterval(sampler);
    clearInterval(ticker);
    const cpu = process.cpuUsage(cpu0);
    loopDelay.disable();
    const outcomes1 = await sloOutcomes(metricsPort);
    const rssAfter = rssMb(frontendPid);

    const offered = (phase: Phase): number => phases.find((p) => p[0] === phase)?.[1] ?? 0;
    const summary = (phase: Phase): Record<string, unknown> => phaseSummary(recs, phase, bounds, offered(phase), SLO_MS);
    const inSlo = (r: Rec): boolean => withinSlo(r, SLO_MS);
    const recoveryMs = recoveryAfterBurst(recs, bounds, SLO_MS);
    const result = {
      bench: 'serving-overload',
      when: new Date().toISOString(),
      machine: { cpus: cpus().length, loadavg_before: loadavg() },
      method:
        'capacity = closed-loop answers/s (budget 60 s); open loop base x capacity, factor x capacity for the burst, base again; SLO timed at the client from the send; admitted = answered, or failed with something else than an admission/queue-bound refusal; recovery = burst end to the first 250 ms window of sends all answered within the SLO',
      settings: { client_priority: isRealtime() ? 'realtime (SCHED_RR)' : 'normal', server_nice: Number(opt['server-nice']), server_cpus: serverCpus || 'all', client_cpus: clientCpus || 'all', redis_pinned: redisPin !== undefined, server: opt.server, images: IMAGES, slo_ms: SLO_MS, threads: Number(opt.threads), channels, transport: opt.transport, factor: Number(opt.factor), base: Number(opt.base) },
      capacity_rps: Math.round(capacity * 10) / 10,
      capacity_given: givenCapacity > 0,
      capacity_subnets: capSubnets,
      capacity_server_median_ms: capServerMs.length > 0 ? Math.round(quantile(capServerMs, 0.5) * 10) / 10 : null,
      // with --burst-driver h2load the burst phase's figures are this client's calls among h2load's
      // (the same bytes, so the server cannot tell them apart): a sample of the burst, timed per call
      phases: { before: summary('before'), burst: summary('burst'), after: summary('after') },
      burst_driver: burstLoad
        ? {
            kind: 'h2load',
            offered_rps: Math.round(h2loadRate),
            sent: burstLoad.done,
            sent_rps: Math.round(burstLoad.done / burstLoad.durationS),
            cpu_us_per_call: Math.round((burstLoad.cpuS * 1e6) / Math.max(1, burstLoad.done)),
            core_fraction: Math.round(driverCores * 1000) / 1000,
            // h2load cannot read grpc-status: its calls are counted by the server (server_vs_client).
            // Sent under the offered rate: h2load was held back, by its own CPU (limited: over half a
            // core) or by the server (its streams per connection, lowered while the door refuses:
            // grpcSheddingStreams), which is backpressure working, not a weak load generator
            under_offered: driverUnder,
            limited: driverUnder && driverCores > 0.5,
          }
        : { kind: 'client' },
      all_answered: drained && recs.every((r) => r.ok !== undefined),
      frontend_rss_mb: { before_burst: Math.round(rssBefore), peak: Math.round(rssPeak), after: Math.round(rssAfter) },
      recovery_ms: recoveryMs,
      // the server's own count over the open loop (slackserve_slo_outcome_total, against the deadline
      // it computed from the call's arrival) beside the client's: calls the server counts met that
      // the client timed late lost their time outside the server's clock (the client, the socket)
      server_vs_client: {
        server_outcomes: Object.fromEntries(Object.entries(outcomes1).map(([k, v]) => [k, v - (outcomes0[k] ?? 0)])),
        client_within_slo: recs.filter(inSlo).length,
        client_answered_ok: recs.filter((r) => r.ok === true).length,
      },
      client: {
        transport: useH2 ? 'h2' : 'grpc-js',
        cpu_us_per_call: Math.round((cpu.user + cpu.system) / Math.max(1, recs.length)),
        // the client's own event-loop delay over the open loop (perf_hooks): a stall here delays sends and answers alike
        event_loop_delay_ms: { p50: Math.round(loopDelay.percentile(50) / 1e5) / 10, p99: Math.round(loopDelay.percentile(99) / 1e5) / 10, max: Math.round(loopDelay.max / 1e5) / 10 },
        // the client's own schedule: a phase whose sends ran late measured the client too
        limited_phases: (['before', 'burst', 'after'] as const).filter((ph) => quantile(recs.filter((r) => r.phase === ph).map((r) => r.lateMs), 0.99) > CLIENT_LATE_MS),
      },
    };
    if (result.burst_driver.kind === 'h2load' && 'limited' in result.burst_driver && result.burst_driver.limited)
      log(`warning: h2load sent ${result.burst_driver.sent_rps} of the ${result.burst_driver.offered_rps} calls/s asked in the burst: the burst was smaller than asked`);
    if (result.client.limited_phases.length > 0)
      log(`warning: the client fell behind its schedule (p99 send lateness > ${CLIENT_LATE_MS} ms) in: ${result.client.limited_phases.join(', ')}; those phases partly measure the load generator`);
    for (const ph of ['before', 'burst', 'after'] as const) {
      const stalled = recs.filter((r) => r.phase === ph && lateByClientStall(r, SLO_MS)).length;
      if (stalled > 0) log(`warning: ${stalled} answer(s) of the ${ph} phase were late only because this client read them late (its loop stalled): see admitted_within_slo_share_net_of_client_stalls`);
    }
    const text = JSON.stringify(result, null, 2);
    process.stdout.write(text + '\n');
    if (opt.out) {
      mkdirSync(dirname(opt.out), { recursive: true });
      writeFileSync(opt.out, text + '\n');
    }
  } finally {
    for (const c of clients) c.close();
    for (const c of h2) c.close();
    rmSync(burstBodyFile, { force: true });
    for (const p of procs.reverse()) p.child.kill('SIGKILL');
    unpinRedis();
    if (opt.server !== 'embedded') {
      const r = new Redis(opt.redis ?? '');
      await deleteKeysUnder(r, prefix).catch(() => 0);
      r.disconnect();
    }
  }
}

main().catch((e: unknown) => {
  log(String(e instanceof Error ? e.stack : e));
  process.exit(1);
});
