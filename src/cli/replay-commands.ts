/** `slackserve replay`: a trace replayed open loop against a server over gRPC, with a report. */
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { InvalidArgumentError, type Command } from 'commander';
import { OipClient } from '../client/oip-client.js';
import { ordinaryPriority, raiseToRealtime } from '../client/priority.js';
import { DEFAULT_THREAD_YOUNG_GEN_MB, replay, RPS_PER_THREAD, type ReplayProgress } from '../replay/replayer.js';
import { reportHtml, type ReportRun } from '../replay/report-html.js';
import { perfCsv, requestsCsv, summarize, type ReplaySummary } from '../replay/report.js';
import { SlackserveError } from '../errors.js';
import { Catalogue } from '../supernet/catalogue.js';
import { loadReplaySet } from '../supernet/sample.js';
import { readTraceFile } from '../trace/format.js';
import { configFrom, nonNegativeInt, positiveInt } from './options.js';

const positive = (v: string): number => {
  const n = Number(v);
  if (!(n > 0) || !Number.isFinite(n)) throw new InvalidArgumentError(`expected a number > 0, got "${v}"`);
  return n;
};

const threadsArg = (v: string): number | 'auto' => (v === 'auto' ? 'auto' : positiveInt(v));

const priorityArg = (v: string): 'normal' | 'realtime' => {
  if (v !== 'normal' && v !== 'realtime') throw new InvalidArgumentError(`expected normal or realtime, got "${v}"`);
  return v;
};

const transportArg = (v: string): 'auto' | 'grpc-js' | 'h2' => {
  if (v !== 'auto' && v !== 'grpc-js' && v !== 'h2') throw new InvalidArgumentError(`expected auto, h2 or grpc-js, got "${v}"`);
  return v;
};

interface ReplayFlags {
  trace: string;
  target?: string;
  model?: string;
  speed: number;
  rateScale: number;
  duration?: number;
  out: string;
  threads: number | 'auto';
  transport: 'auto' | 'grpc-js' | 'h2';
  clientYoungGenMb: number;
  clientPriority: 'normal' | 'realtime';
  images: number;
  supernet?: string;
  compare?: string;
  seed: number;
}

/** The client's own figures for a printed summary line, flagged when the client limited the run. */
export function clientLine(s: ReplaySummary): string {
  const b = s.client_behind_ms;
  const ms = (v: number | null): string => (v === null ? '-' : v.toFixed(1));
  const cpu =
    s.client_cpu_us_per_request === null
      ? ''
      : `, CPU ${s.client_cpu_us_per_request} us/request (${(s.client_cpu_cores ?? 0).toFixed(2)} cores${s.client_cpu_includes_server ? ', the in-process server included' : ''})`;
  const threads = s.client_threads === null ? '' : `${s.client_threads} sender thread${s.client_threads === 1 ? '' : 's'}${s.client_transport ? ` (${s.client_transport})` : ''}, `;
  return `client: ${threads}behind schedule p50 ${ms(b.p50)} / p99 ${ms(b.p99)} / max ${ms(b.max)} ms${cpu}${s.client_limited ? '  [CLIENT-LIMITED]' : ''}`;
}

/** The warning printed when the client, not the server, limited a run (null when it did not). */
export function clientWarning(name: string, s: ReplaySummary): string | null {
  return s.client_limited ? `warning: ${name}: the client, not the server, limited this run: ${s.client_limited_reason}` : null;
}

/** A one-line progress bar with live attainment, redrawn on stderr. */
export function progressLine(p: ReplayProgress, name: string): string {
  const width = 30;
  const frac = p.total === 0 ? 1 : p.done / p.total;
  const bar = '#'.repeat(Math.round(frac * width)).padEnd(width, '.');
  const att = p.done === 0 ? '-' : `${((100 * p.met) / p.done).toFixed(2)}%`;
  const behind = p.maxBehindMs > 50 ? `  client behind schedule by up to ${p.maxBehindMs.toFixed(0)} ms` : '';
  return `${name} [${bar}] ${p.done}/${p.total} answered (${p.sent} sent), ${p.elapsedS.toFixed(1)} s, attainment ${att}${behind}`;
}

async function withServer<T>(policy: string, supernet: string, fn: (target: string) => Promise<T>): Promise<T> {
  const port = 20000 + Math.floor(Math.random() * 20000);
  const bin = fileURLToPath(new URL('../../bin/slackserve.js', import.meta.url));
  // a realtime client (--client-priority) starts its servers at ordinary priority
  const [cmd, ...args] = ordinaryPriority([process.execPath]);
  const proc = spawn(cmd!, [...args, bin, 'serve', '--policy', policy, '--supernet', supernet, '--grpc-port', String(port), '--http-port', '0', '--host', '127.0.0.1'], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const target = `127.0.0.1:${port}`;
  try {
    const c = new OipClient(target);
    try {
      await c.waitReady(60_000);
    } finally {
      c.close();
    }
    return await fn(target);
  } finally {
    await new Promise<void>((res) => {
      proc.once('exit', () => res());
      proc.kill('SIGTERM');
    });
  }
}

export function registerReplayCommands(program: Command): void {
  program
    .command('replay')
    .description('replay a trace open loop over gRPC (SLO annotations, labelled test images), with a progress bar and a report')
    .requiredOption('--trace <file>', 'trace CSV (traces/README.md)')
    .option('--target <host:port>', 'gRPC address of the server (default 127.0.0.1:8001; with --compare, local servers are started)')
    .option('--model <name>', 'model name (default: the supernet manifest name)')
    .option('--speed <x>', 'time warp: 2 replays the trace twice as fast', positive, 1)
    .option('--rate-scale <x>', 'keep each request with probability x (x < 1) or add copies (x > 1), seeded', positive, 1)
    .option('--duration <s>', 'stop the schedule after this many seconds', positive)
    .option('--out <dir>', 'report directory', 'reports/replay')
    .option('--threads <n|auto>', `sender threads, each with its own channel (auto: one per ${RPS_PER_THREAD} req/s of the schedule's peak second, at most the cores, less one for a server on this machine)`, threadsArg, 'auto')
    .option(
      '--transport <t>',
      'how calls are made: h2 (a minimal gRPC client on node:http2, the least CPU per call; plaintext host:port targets) or grpc-js (grpc.Client with identity serializers); auto: h2 where it can dial the target',
      transportArg,
      'auto',
    )
    .option('--client-young-gen-mb <n>', `each sender thread's V8 young generation, MB; small keeps its GC pauses short (0: V8's default)`, nonNegativeInt, DEFAULT_THREAD_YOUNG_GEN_MB)
    .option(
      '--client-priority <p>',
      'realtime: the sender threads run SCHED_RR (needs root and chrt) and servers started by --compare ordinary priority, so a light client keeps its schedule on a machine the server keeps busy; a busy realtime client takes its cores from the server (docs/replay.md)',
      priorityArg,
      'normal',
    )
    .option('--images <n>', 'images per request', positiveInt, 1)
    .option('--supernet <dir>', 'where the labelled test images come from (config `supernet`)')
    .option('--compare <policies>', 'start a local server per policy (e.g. slackfit,static-largest) and report them side by side')
    .option('--seed <n>', 'seed of --rate-scale sampling', positiveInt, 1)
    .action(async (o: ReplayFlags, cmd: Command) => {
      const cfg = configFrom(cmd, { supernet: o.supernet });
      if (o.clientPriority === 'realtime') {
        if (!raiseToRealtime()) throw new SlackserveError('INPUT_INVALID', '--client-priority realtime: could not set SCHED_RR (chrt -r needs root and util-linux chrt)');
        process.stderr.write('replay: client at realtime priority (SCHED_RR); servers it starts at ordinary priority\n');
      }
      const cat = Catalogue.load(cfg.supernet);
      const { sample, x: images } = loadReplaySet(cat);
      const trace = await readTraceFile(o.trace);
      const runOne = async (name: string, target: string): Promise<ReportRun> => {
        let last = 0;
        const r = await replay({
          target,
          model: o.model ?? cat.manifest.name,
          inputName: cat.manifest.input.name,
          trace,
          images,
          labels: sample.labels,
          sampleShape: cat.sampleShape,
          speed: o.speed,
          rateScale: o.rateScale,
          threads: o.threads,
          transport: o.transport,
          threadYoungGenMb: o.clientYoungGenMb,
          imagesPerRequest: o.images,
          seed: o.seed,
          ...(o.duration !== undefined ? { durationS: o.duration } : {}),
          onProgress: (p) => {
            const line = progressLine(p, name);
            if (process.stderr.isTTY) process.stderr.write(`\r${line}`);
            else if (p.elapsedS - last >= 5 || p.done === p.total) {
              last = p.elapsedS;
              process.stderr.write(line + '\n');
            }
          },
        });
        if (process.stderr.isTTY) process.stderr.write('\n');
        const summary = summarize(r.records, r.scheduleS, r.maxBehindMs, r.client);
        const warning = clientWarning(name, summary);
        if (warning) process.stderr.write(warning + '\n');
        return { name, records: r.records, summary };
      };
      const runs: ReportRun[] = [];
      if (o.compare) {
        for (const policy of o.compare.split(',').map((p) => p.trim()).filter(Boolean)) runs.push(await withServer(policy, resolve(cfg.supernet), (t) => runOne(policy, t)));
      } else runs.push(await runOne(o.target ?? '127.0.0.1:8001', o.target ?? '127.0.0.1:8001'));
      mkdirSync(o.out, { recursive: true });
      const single = runs.length === 1;
      for (const r of runs) {
        const dir = single ? o.out : join(o.out, r.name.replace(/[^A-Za-z0-9_.-]/g, '_'));
        mkdirSync(dir, { recursive: true });
        writeFileSync(join(dir, 'requests.csv'), requestsCsv(r.records));
        writeFileSync(join(dir, 'summary.json'), JSON.stringify(r.summary, null, 1) + '\n');
        writeFileSync(join(dir, 'perf.csv'), perfCsv(r.records, r.summary));
      }
      writeFileSync(join(o.out, 'report.html'), reportHtml(runs, `slackserve replay: ${o.trace}`));
      if (!single) writeFileSync(join(o.out, 'summary.json'), JSON.stringify(Object.fromEntries(runs.map((r) => [r.name, r.summary])), null, 1) + '\n');
      for (const r of runs) {
        const sm = r.summary;
        console.log(
          `${r.name}: ${sm.requests} requests, SLO attainment ${(sm.slo_attainment * 100).toFixed(2)}%, served accuracy ${sm.served_accuracy === null ? '-' : (sm.served_accuracy * 100).toFixed(2) + '%'}, ` +
            `p50 ${sm.latency_ms.p50 ?? '-'} ms, p99 ${sm.latency_ms.p99 ?? '-'} ms, shed ${(sm.shed_rate * 100).toFixed(2)}%, errors ${sm.errors}${sm.client_limited ? '  [CLIENT-LIMITED]' : ''}`,
        );
        console.log(`  ${clientLine(sm)}`);
      }
      const limited = runs.filter((r) => r.summary.client_limited);
      if (limited.length > 0)
        console.log(
          `${single ? 'this run was' : `${limited.map((r) => r.name).join(', ')} ${limited.length === 1 ? 'was' : 'were'}`} client-limited: ` +
            'the figures partly measure the client, not the server (reasons in summary.json, client_limited_reason)',
        );
      console.log(`report: ${join(o.out, 'report.html')}`);
    });
}
