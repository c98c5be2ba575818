/**
 * The overload bench's (overload.ts) processes and records: starting the server's roles, reading
 * the frontend's RSS and its own SLO outcome counts, and an answer's own timing parameters.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { ordinaryPriority } from '../../src/client/priority.js';
import { readInferResponse } from '../../src/client/wire.js';
import { log, SUPERNET } from './common.js';

/** The frontend's `slackserve_slo_outcome_total`, summed by outcome (empty when it cannot be read). */
export async function sloOutcomes(port: number | undefined): Promise<Record<string, number>> {
  if (port === undefined) return {};
  try {
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    const out: Record<string, number> = {};
    for (const m of text.matchAll(/^slackserve_slo_outcome_total\{[^}]*outcome="([a-z]+)"[^}]*\} ([0-9.e+]+)$/gm)) out[m[1]!] = (out[m[1]!] ?? 0) + Number(m[2]);
    return out;
  } catch {
    return {};
  }
}

export function quantile(xs: readonly number[], q: number): number {
  if (xs.length === 0) return 0;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? 0;
}

export interface Proc {
  readonly child: ChildProcess;
  readonly ports: { grpc: number; http: number } | undefined;
}

/**
 * Starts a server role. `cpus` (a taskset list such as "0"): the process and its threads run only
 * there, so the load generators (pinned elsewhere: pinProcess) cannot take the server's cores.
 */
export function start(role: 'serve' | 'frontend' | 'worker', args: readonly string[], env: Record<string, string>, nice = 0, cpus = ''): Promise<Proc> {
  const ports = role === 'worker' ? ['--metrics-port', '0'] : ['--grpc-port', '0', '--http-port', '0'];
  const argv = [process.execPath, 'bin/slackserve.js', role];
  if (nice !== 0) argv.unshift('nice', '-n', String(nice));
  if (cpus !== '') argv.unshift('taskset', '-c', cpus);
  const cmd = ordinaryPriority(argv);
  const child = spawn(cmd[0]!, [...cmd.slice(1), '--supernet', SUPERNET, '--host', '127.0.0.1', ...ports, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`${role} did not start:\n${out}`)), 60_000);
    const onData = (d: Buffer): void => {
      out += d.toString();
      if (!out.includes(`slackserve ${role}:`)) return;
      clearTimeout(t);
      const m = /gRPC :(\d+), HTTP :(\d+)/.exec(out);
      resolve({ child, ports: m ? { grpc: Number(m[1]), http: Number(m[2]) } : undefined });
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', (d: Buffer) => log(`[${role}] ${d.toString().trim()}`));
    child.once('exit', (code) => reject(new Error(`${role} exited (${code}):\n${out}`)));
  });
}

export const rssMb = (pid: number | undefined): number => {
  try {
    return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;
  } catch {
    return 0;
  }
};

export type Phase = 'before' | 'burst' | 'after';
export interface Rec {
  readonly phase: Phase;
  readonly sentAt: number;
  /** How late the client sent it against its schedule (ms). */
  readonly lateMs: number;
  doneAt?: number;
  ok?: boolean;
  status?: string;
  /** How long the call waited in the client for a stream (the server's stream limit), ms (h2 transport). */
  queuedMs?: number;
  /**
   * How long before the answer's callback this client's event loop last ran its 1 ms ticker, ms:
   * the client's own delay in reading the answer (its loop busy or without a core), time that
   * neither the server nor the network spent.
   */
  staleMs?: number;
  /** The answer's own timing parameters (slackserve.server_us, queue_us, compute_us, output_us), in ms. */
  server?: { serverMs: number; queueMs: number; computeMs: number; outputMs: number; subnet: string };
}

/** The server's timing of an answer (its response parameters), or undefined when absent. */
export function serverTiming(res: Buffer | undefined): Rec['server'] {
  if (res === undefined) return undefined;
  try {
    const p = readInferResponse(res).params;
    const n = (k: string): number => Number(p[`slackserve.${k}`] ?? NaN) / 1000;
    return { serverMs: n('server_us'), queueMs: n('queue_us'), computeMs: n('compute_us'), outputMs: n('output_us'), subnet: String(p['slackserve.subnet'] ?? '') };
  } catch {
    return undefined;
  }
}

/**
 * Pins every thread of process `pid` to the CPUs `cpus` (a taskset list); returns the list it had,
 * to restore later. Throws when taskset (util-linux) is missing or the list is not valid here.
 */
export function pinProcess(pid: number, cpus: string): string {
  const before = /list:\s*(\S+)/.exec(execFileSync('taskset', ['-c', '-p', String(pid)], { encoding: 'utf8' }))?.[1] ?? '';
  execFileSync('taskset', ['-a', '-c', '-p', cpus, String(pid)], { stdio: 'ignore' });
  return before;
}
