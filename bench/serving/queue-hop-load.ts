/**
 * bench/serving/queue-hop.ts's load generation and CPU accounting: a frontend-side `Hop` driven
 * open-loop (sends on a clock) or closed-loop (a fixed number outstanding), latency summaries, and
 * CPU per request of this process, the echo worker process and Redis.
 */
import { readFileSync } from 'node:fs';
import type { Redis } from 'ioredis';

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
export const r3 = (v: number): number => Math.round(v * 1000) / 1000;

// ---- CPU accounting ----------------------------------------------------------------------


export interface CpuSnap {
  readonly frontendUs: number;
  readonly workerUs: number;
  readonly redisUs: number;
}
/** utime + stime of a process from /proc (clock ticks of 10 ms), in microseconds. */
function procCpuUs(pid: number | undefined): number {
  if (pid === undefined) return 0;
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(f[11]) + Number(f[12])) * 10_000;
}
export async function cpuSnap(admin: Redis, workerPid: number | undefined): Promise<CpuSnap> {
  const info = await admin.info('cpu');
  const num = (k: string): number => Number(new RegExp(`${k}:([0-9.]+)`).exec(info)?.[1] ?? 0);
  const u = process.cpuUsage();
  return { frontendUs: u.user + u.system, workerUs: procCpuUs(workerPid), redisUs: (num('used_cpu_sys') + num('used_cpu_user')) * 1e6 };
}
export function cpuPerRequest(a: CpuSnap, b: CpuSnap, n: number): Record<string, number> {
  const per = (x: number): number => Math.round((x / Math.max(1, n)) * 10) / 10;
  const fe = b.frontendUs - a.frontendUs;
  const wk = b.workerUs - a.workerUs;
  const rd = b.redisUs - a.redisUs;
  return { frontend: per(fe), worker: per(wk), redis: per(rd), total: per(fe + wk + rd) };
}

// ---- load generation ---------------------------------------------------------------------

export interface Summary {
  readonly offered_rps: number | null;
  readonly achieved_rps: number;
  readonly sent: number;
  readonly completed: number;
  readonly p50_ms: number;
  readonly p95_ms: number;
  readonly p99_ms: number;
  readonly max_ms: number;
  readonly cpu_us_per_request?: Record<string, number>;
}

export function summarize(lat: number[], offered: number | null, sent: number, achieved: number): Summary {
  const s = Float64Array.from(lat).sort();
  const q = (p: number): number => (s.length === 0 ? NaN : r3(s[Math.min(s.length - 1, Math.floor(p * s.length))]!));
  return { offered_rps: offered, achieved_rps: Math.round(achieved), sent, completed: s.length, p50_ms: q(0.5), p95_ms: q(0.95), p99_ms: q(0.99), max_ms: q(1) };
}

/** One frontend: send(seq), a reply hook, and how many are unanswered. */
export interface Hop {
  send(seq: number): void;
  onDone: (seq: number) => void;
  outstanding(): number;
  readonly workerPid?: number | undefined;
}

export async function drain(hop: Hop): Promise<void> {
  const end = performance.now() + 20_000;
  while (hop.outstanding() > 0 && performance.now() < end) await sleep(5);
}

/**
 * Open loop at `rate` for `seconds`: sends are scheduled on a clock (1 ms ticks), independent of
 * replies. Completions/s counts replies that arrive within the window; latencies cover all sent.
 */
export async function openLoop(hop: Hop, rate: number, seconds: number): Promise<Summary> {
  const total = Math.round(rate * seconds);
  const sentAt = new Float64Array(total);
  const lat: number[] = [];
  let inWindow = 0;
  let windowOpen = true;
  hop.onDone = (seq) => {
    lat.push(performance.now() - sentAt[seq]!);
    if (windowOpen) inWindow++;
  };
  const start = performance.now();
  let sent = 0;
  while (sent < total) {
    const due = Math.min(total, Math.floor(((performance.now() - start) * rate) / 1000) + 1);
    for (; sent < due; sent++) {
      sentAt[sent] = performance.now();
      hop.send(sent);
    }
    await sleep(1);
  }
  const elapsed = (performance.now() - start) / 1000;
  windowOpen = false;
  await drain(hop);
  return summarize(lat, rate, total, inWindow / elapsed);
}

/**
 * Closed loop: `inflight` outstanding; each reply sends the next. Measured after a warm-up, with
 * the CPU of this process, the worker and Redis (`admin`'s INFO) per request.
 */
export async function closedLoop(admin: Redis, hop: Hop, inflight: number, seconds: number, warmupS = 1): Promise<Summary> {
  const sentAt: number[] = [];
  const lat: number[] = [];
  let measuring = false;
  let sending = true;
  let seq = 0;
  const send = (): void => {
    sentAt[seq] = performance.now();
    hop.send(seq++);
  };
  hop.onDone = (s) => {
    if (measuring) lat.push(performance.now() - sentAt[s]!);
    if (sending) send();
  };
  for (let i = 0; i < inflight; i++) send();
  await sleep(warmupS * 1000);
  const c0 = await cpuSnap(admin, hop.workerPid);
  measuring = true;
  const t0 = performance.now();
  await sleep(seconds * 1000);
  measuring = false;
  const elapsed = (performance.now() - t0) / 1000;
  const c1 = await cpuSnap(admin, hop.workerPid);
  sending = false;
  await drain(hop);
  return { ...summarize(lat, null, seq, lat.length / elapsed), cpu_us_per_request: cpuPerRequest(c0, c1, lat.length) };
}
