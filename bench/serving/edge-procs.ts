/**
 * Process side of bench/serving/edge.ts: the three servers (bare gRPC echo, `slackserve serve`,
 * `slackserve frontend` + `worker` on Redis), each process on 127.0.0.1 with the in-process probe
 * preloaded; CPU time and RSS from /proc; Prometheus success counters; the probe's dumps.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { deleteKeysUnder } from '../../src/queue/redis-keys.js';
import { log } from './common.js';
import type { ProbeDump } from './probe.js';

export type ServerName = 'echo' | 'h2echo' | 'embedded' | 'split';
export const SERVER_NAMES: readonly ServerName[] = ['echo', 'h2echo', 'embedded', 'split'];
/** The servers that answer with a fixed message and no slackserve code (no /metrics). */
const ECHOES: Partial<Record<ServerName, string>> = {
  echo: fileURLToPath(new URL('./grpc-echo.js', import.meta.url)),
  h2echo: fileURLToPath(new URL('./h2-echo.js', import.meta.url)),
};

const PROBE = fileURLToPath(new URL('./probe.js', import.meta.url));
export const CLK_TCK = ((): number => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
  } catch {
    return 100;
  }
})();

export async function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      const port = a && typeof a === 'object' ? a.port : 0;
      s.close(() => res(port));
    });
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** utime + stime of a process (all its threads), seconds. */
export function cpuSeconds(pid: number): number {
  return cpuFields(readFileSync(`/proc/${pid}/stat`, 'utf8'));
}

/** CPU seconds of one process split by thread: its main thread, the JavaScript worker threads the probe listed, and the rest (V8's and libuv's). */
export interface ThreadCpu {
  readonly main: number;
  readonly workers: number;
  readonly other: number;
}

function taskCpuSeconds(pid: number, tid: string): number {
  try {
    return cpuFields(readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8'));
  } catch {
    return 0; // the thread ended between the listing and the read: its time stays in `other`
  }
}

const cpuFields = (stat: string): number => {
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // f[0] is field 3 (state)
  return (Number(f[11]) + Number(f[12])) / CLK_TCK;
};

export function rssBytes(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : NaN;
}

/** One child process: stdout and stderr go to our stderr, tagged. */
export class Proc {
  readonly child: ChildProcess;
  readonly probeFile: string;
  /** Its last output lines (for crash reports). */
  readonly tail: string[] = [];
  /** How it ended: exit code or signal; undefined while it runs. */
  exit: string | undefined;
  private exited = false;
  constructor(
    readonly role: string,
    args: readonly string[],
    env: Record<string, string> = {},
    /** Preload probe.ts (off: no probe, no SIGUSR2, which would end the process). */
    readonly probed = true,
  ) {
    this.probeFile = join(tmpdir(), `edge-probe-${process.pid}-${role}-${Math.random().toString(36).slice(2, 8)}.json`);
    const probeEnv = probed ? { NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --import=${PROBE}`.trim(), SLACKSERVE_PROBE_OUT: this.probeFile } : {};
    this.child = spawn(process.execPath, args, {
      env: { ...process.env, ...env, ...probeEnv },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const tag = (d: Buffer): void => {
      for (const l of d.toString().split('\n'))
        if (l.trim()) {
          log(`  [${role}] ${l}`);
          this.tail.push(l);
          if (this.tail.length > 40) this.tail.shift();
        }
    };
    this.child.stdout?.on('data', tag);
    this.child.stderr?.on('data', tag);
    this.child.once('exit', (code, sig) => {
      this.exited = true;
      this.exit = String(code ?? sig);
      log(`  [${role}] exited (${code ?? sig})`);
    });
  }
  get pid(): number {
    return this.child.pid ?? -1;
  }
  get alive(): boolean {
    return !this.exited;
  }
  cpu(): number {
    return cpuSeconds(this.pid);
  }
  /** The process's CPU by thread (workers: the threads whose ids the probe wrote; none without the probe). */
  threadCpu(): ThreadCpu {
    const total = this.cpu();
    const main = taskCpuSeconds(this.pid, String(this.pid));
    let workers = 0;
    if (this.probed && existsSync(`${this.probeFile}.tids`))
      for (const tid of readFileSync(`${this.probeFile}.tids`, 'utf8').split('\n'))
        if (/^\d+$/.test(tid)) workers += taskCpuSeconds(this.pid, tid);
    return { main, workers, other: Math.max(0, total - main - workers) };
  }
  /** The probe's figures since its previous dump (resets them). */
  async probe(timeoutMs = 3000): Promise<ProbeDump | undefined> {
    if (!this.probed || !this.alive) return undefined;
    rmSync(this.probeFile, { force: true });
    this.child.kill('SIGUSR2');
    const end = Date.now() + timeoutMs;
    while (Date.now() < end) {
      if (existsSync(this.probeFile)) return JSON.parse(readFileSync(this.probeFile, 'utf8')) as ProbeDump;
      await sleep(20);
    }
    log(`  [${this.role}] no probe dump within ${timeoutMs} ms`);
    return undefined;
  }
  async stop(): Promise<void> {
    if (!this.exited) {
      const gone = new Promise<void>((r) => this.child.once('exit', () => r()));
      this.child.kill('SIGTERM');
      const t = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
      await gone;
      clearTimeout(t);
    }
    rmSync(this.probeFile, { force: true });
    rmSync(`${this.probeFile}.tids`, { force: true });
  }
}

export interface Server {
  readonly name: ServerName;
  readonly grpcPort: number;
  /** HTTP port whose /metrics counts the frontend's successes; undefined for the echo. */
  readonly metricsPort: number | undefined;
  readonly procs: readonly Proc[];
  stop(): Promise<void>;
}

async function waitFor(what: string, ok: () => Promise<boolean>, procs: readonly Proc[], timeoutMs = 60_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (procs.some((p) => !p.alive)) throw new Error(`${what}: a process exited before it was ready`);
    if (await ok().catch(() => false)) return;
    await sleep(200);
  }
  throw new Error(`${what}: not ready within ${timeoutMs} ms`);
}

const httpOk = (port: number, path: string) => async (): Promise<boolean> => (await fetch(`http://127.0.0.1:${port}${path}`)).status === 200;

export interface SlackserveOptions {
  readonly policy: string;
  readonly redisUrl: string;
  readonly threads: number | undefined;
  /** Path of bin/slackserve.js (default: this checkout's). */
  readonly cli?: string | undefined;
  /** Preload the probe into every server process (default true). */
  readonly probe?: boolean;
  /** Preload this module instead (with `env`), and no probe: alloc.ts's heap sampler. */
  readonly preload?: { readonly module: string; readonly env: Readonly<Record<string, string>> } | undefined;
}

export async function startServer(name: ServerName, o: SlackserveOptions): Promise<Server> {
  const cli = o.cli ?? 'bin/slackserve.js';
  const common = ['--host', '127.0.0.1', ...(o.threads ? ['--threads', String(o.threads)] : [])];
  const pre = o.preload ? { ...o.preload.env, NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --import=${o.preload.module}`.trim() } : {};
  const probed = o.preload ? false : (o.probe ?? true);
  const echo = ECHOES[name];
  if (echo) {
    const port = await freePort();
    const p = new Proc(name, [echo, String(port)], pre, probed);
    await waitFor(name, () => probeTcp(port), [p]);
    return { name, grpcPort: port, metricsPort: undefined, procs: [p], stop: () => p.stop() };
  }
  const grpcPort = await freePort();
  const httpPort = await freePort();
  const edge = ['--grpc-port', String(grpcPort), '--http-port', String(httpPort)];
  if (name === 'embedded') {
    const p = new Proc('serve', [cli, 'serve', '--policy', o.policy, ...edge, ...common], pre, probed);
    await waitFor('embedded', httpOk(httpPort, '/v2/health/ready'), [p]);
    return { name, grpcPort, metricsPort: httpPort, procs: [p], stop: () => p.stop() };
  }
  // split: a prefix of our own so concurrent runs on the same Redis never share keys
  const prefix = `edgebench-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  const env = { SLACKSERVE_QUEUE_PREFIX: prefix };
  const metricsPort = await freePort();
  const worker = new Proc('worker', [cli, 'worker', '--redis', o.redisUrl, '--policy', o.policy, '--metrics-port', String(metricsPort), ...common], env, o.probe ?? true);
  // the frontend takes no --policy; the environment keeps its log line and config the worker's
  const frontend = new Proc('frontend', [cli, 'frontend', '--redis', o.redisUrl, ...edge, '--host', '127.0.0.1'], { ...env, SLACKSERVE_POLICY: o.policy }, o.probe ?? true);
  const procs = [frontend, worker];
  try {
    await waitFor('split worker', httpOk(metricsPort, '/v2/health/ready'), procs);
    await waitFor('split frontend', httpOk(httpPort, '/v2/health/ready'), procs);
  } catch (e) {
    await Promise.all(procs.map((p) => p.stop()));
    throw e;
  }
  return {
    name,
    grpcPort,
    metricsPort: httpPort,
    procs,
    stop: async () => {
      await frontend.stop();
      await worker.stop();
      await dropKeys(o.redisUrl, prefix);
    },
  };
}

function probeTcp(port: number): Promise<boolean> {
  return new Promise((res) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => (s.destroy(), res(true)));
    s.once('error', () => res(false));
  });
}

/** Deletes every Redis key under our prefix (the queue's streams, reply streams, liveness keys). */
async function dropKeys(url: string, prefix: string): Promise<void> {
  const r = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await r.connect();
    await deleteKeysUnder(r, prefix);
  } catch (e) {
    log(`redis cleanup of ${prefix}:* failed: ${String(e)}`);
  } finally {
    r.disconnect();
  }
}

export async function redisReachable(url: string): Promise<boolean> {
  const r = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1, connectTimeout: 2000, retryStrategy: () => null });
  try {
    await r.connect();
    return (await r.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    r.disconnect();
  }
}

export interface Counters {
  readonly success: number;
  readonly failure: Readonly<Record<string, number>>;
}

/** The frontend's success and failure counters (Prometheus text on /metrics). */
export async function readCounters(port: number): Promise<Counters> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  let success = 0;
  const failure: Record<string, number> = {};
  for (const line of text.split('\n')) {
    if (line.startsWith('slackserve_inference_request_success')) success += Number(line.slice(line.lastIndexOf(' ') + 1));
    else if (line.startsWith('slackserve_inference_request_failure')) {
      const reason = /reason="([^"]*)"/.exec(line)?.[1] ?? 'OTHER';
      failure[reason] = (failure[reason] ?? 0) + Number(line.slice(line.lastIndexOf(' ') + 1));
    }
  }
  return { success, failure };
}

export function counterDelta(a: Counters, b: Counters): Counters {
  const failure: Record<string, number> = {};
  for (const [k, v] of Object.entries(b.failure)) if (v - (a.failure[k] ?? 0) > 0) failure[k] = v - (a.failure[k] ?? 0);
  return { success: b.success - a.success, failure };
}
