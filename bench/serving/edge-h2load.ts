/**
 * Load side of bench/serving/edge.ts: the pre-encoded gRPC body, one h2load run (its own CPU time
 * from bash's `times`), and per-request latencies from h2load's --log-file.
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as protoLoader from '@grpc/proto-loader';
import { Catalogue } from '../../src/supernet/catalogue.js';
import { loadTestSample } from '../../src/supernet/sample.js';
import { log, SUPERNET } from './common.js';

export const METHOD_PATH = '/inference.GRPCInferenceService/ModelInfer';

/** h2load on PATH, installed with apt (nghttp2-client) when missing. */
export function ensureH2load(): void {
  const has = (): boolean => {
    try {
      execFileSync('sh', ['-c', 'command -v h2load'], { stdio: 'ignore' });
      return true;
    } catch {
      return false;
    }
  };
  if (has()) return;
  log('h2load missing: apt-get install -y nghttp2-client');
  execFileSync('apt-get', ['install', '-y', 'nghttp2-client'], { stdio: ['ignore', 2, 2], env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  if (!has()) throw new Error('h2load still missing after apt-get install nghttp2-client');
}

/**
 * A gRPC-framed ModelInferRequest (1-byte compressed flag 0, 4-byte big-endian length, message)
 * for `images` real test-sample images as one FP32 [images,1,28,28] input in raw_input_contents,
 * with an int64 `slackserve.latency_budget_ms`. Written to a temp file for h2load -d.
 */
export function writeBody(images: number, budgetMs: number): { file: string; bytes: number; model: string; input: string } {
  const cat = Catalogue.load(SUPERNET);
  const { x } = loadTestSample(cat);
  const size = cat.sampleSize;
  if (images * size > x.length) throw new Error(`the committed sample has ${x.length / size} images, asked for ${images}`);
  const raw = Buffer.from(x.buffer, x.byteOffset, images * size * 4);
  const def = protoLoader.loadSync(fileURLToPath(new URL('../../../proto/grpc_service.proto', import.meta.url)), { keepCase: true, longs: String, defaults: true, oneofs: true });
  const method = (def['inference.GRPCInferenceService'] as protoLoader.ServiceDefinition)['ModelInfer']!;
  const input = cat.manifest.input.name;
  const msg = method.requestSerialize({
    model_name: cat.manifest.name,
    inputs: [{ name: input, datatype: 'FP32', shape: [images, ...cat.manifest.input.shape.slice(1)] }],
    parameters: { 'slackserve.latency_budget_ms': { int64_param: budgetMs } },
    raw_input_contents: [raw],
  });
  const framed = Buffer.alloc(5 + msg.length);
  framed.writeUInt32BE(msg.length, 1);
  msg.copy(framed, 5);
  const file = join(tmpdir(), `edge-body-${process.pid}-${images}.bin`);
  writeFileSync(file, framed);
  return { file, bytes: framed.length, model: cat.manifest.name, input };
}

export interface H2loadSpec {
  readonly port: number;
  readonly body: string;
  readonly seconds: number;
  readonly clients: number;
  readonly streams: number;
  /** Offered total rate, req/s (split evenly over the clients); undefined: closed loop. */
  readonly rate?: number | undefined;
  /** Ends h2load early (SIGTERM); the run then reports what it logged so far. */
  readonly signal?: AbortSignal;
}

export interface Entry {
  /** Start, µs since the epoch. */
  readonly startUs: number;
  readonly status: number;
  readonly durUs: number;
}

export interface H2loadRun {
  readonly wallS: number;
  /** h2load's own user + system CPU, seconds. */
  readonly cpuS: number;
  readonly done: number;
  readonly status2xx: number;
  readonly failed: number;
  readonly errored: number;
  readonly timeout: number;
  /** h2load's measured duration (its "finished in"), seconds. */
  readonly durationS: number;
  readonly entries: readonly Entry[];
  readonly t0Us: number;
}

const num = (text: string, re: RegExp): number => Number(re.exec(text)?.[1] ?? NaN);

/** One h2load run; resolves when it exits. */
export async function runH2load(s: H2loadSpec): Promise<H2loadRun> {
  const logFile = join(tmpdir(), `edge-h2load-${process.pid}-${Math.random().toString(36).slice(2, 8)}.log`);
  const args = ['-H', 'content-type: application/grpc', '-H', 'te: trailers', '-d', s.body, '-c', String(s.clients), '-m', String(s.streams), '-D', String(s.seconds), '--log-file', logFile];
  if (s.rate !== undefined) args.push('--rps', (s.rate / s.clients).toFixed(3));
  args.push(`http://127.0.0.1:${s.port}${METHOD_PATH}`);
  const t0Us = Date.now() * 1000;
  const t0 = performance.now();
  const child = spawn('bash', ['-c', 'h2load "$@"; rc=$?; times; exit $rc', 'h2load', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const stop = (): void => void child.kill('SIGTERM');
  s.signal?.addEventListener('abort', stop, { once: true });
  const rc = await new Promise<number>((res) => child.once('exit', (c) => res(c ?? -1)));
  s.signal?.removeEventListener('abort', stop);
  const wallS = (performance.now() - t0) / 1000;
  if (s.signal?.aborted) {
    const entries = parseLog(logFile);
    rmSync(logFile, { force: true });
    return { wallS, cpuS: NaN, done: entries.length, status2xx: entries.filter((e) => e.status === 200).length, failed: NaN, errored: NaN, timeout: NaN, durationS: wallS, entries, t0Us };
  }
  if (rc !== 0) throw new Error(`h2load exited ${rc}: ${out.slice(-2000)}`);
  // `times`: shell user/sys, then children's user/sys ("0m1.234s 0m0.567s")
  const tl = out.trim().split('\n').slice(-1)[0] ?? '';
  const secs = [...tl.matchAll(/(\d+)m([\d.]+)s/g)].map((m) => Number(m[1]) * 60 + Number(m[2]));
  const entries = parseLog(logFile);
  rmSync(logFile, { force: true });
  return {
    wallS,
    cpuS: (secs[0] ?? NaN) + (secs[1] ?? NaN),
    done: num(out, /(\d+) done/),
    status2xx: num(out, /status codes: (\d+) 2xx/),
    failed: num(out, /(\d+) failed/),
    errored: num(out, /(\d+) errored/),
    timeout: num(out, /(\d+) timeout/),
    durationS: num(out, /finished in ([\d.]+)s/),
    entries,
    t0Us,
  };
}

/** h2load --log-file: tab-separated start (µs since epoch), HTTP status, duration (µs). */
export function parseLog(file: string): Entry[] {
  const out: Entry[] = [];
  if (!existsSync(file)) return out;
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const [a, b, c] = line.split('\t');
    if (c === undefined) continue;
    out.push({ startUs: Number(a), status: Number(b), durUs: Number(c) });
  }
  return out;
}

export interface Latency {
  readonly n: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
}

/** Quantiles of HTTP-200 answers (h2load cannot see grpc-status: fast rejections count too). */
export function latency(entries: readonly Entry[]): Latency {
  const d = entries
    .filter((e) => e.status === 200)
    .map((e) => e.durUs / 1000)
    .sort((a, b) => a - b);
  const q = (p: number): number => (d.length === 0 ? NaN : (d[Math.min(d.length - 1, Math.ceil(p * d.length) - 1)] ?? NaN));
  return { n: d.length, p50Ms: q(0.5), p99Ms: q(0.99), maxMs: d[d.length - 1] ?? NaN };
}
