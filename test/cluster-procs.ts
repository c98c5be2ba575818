/**
 * Real processes for deployment tests: private redis-server and redis-sentinel instances on free
 * loopback ports, and `slackserve worker` processes. Each returns a handle that stops it; the
 * caller stops everything in afterAll (also when the test failed).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SUPERNET_DIR } from './helpers.js';

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export function freePort(): Promise<number> {
  return new Promise((res) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => res(port));
    });
  });
}

/** Whether an executable is on PATH. */
export function hasCommand(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
}

export interface Proc {
  readonly child: ChildProcess;
  output(): string;
  alive(): boolean;
  /** SIGKILL (SIGCONT first, in case it was stopped) and wait for the exit. */
  kill(): Promise<void>;
}

/** Spawns `cmd args` and resolves once its output matches `ready` (rejects on exit or timeout). */
export function spawnUntil(cmd: string, args: readonly string[], ready: RegExp, opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<Proc> {
  const child = spawn(cmd, args, { env: opts.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const exited = new Promise<void>((res) => child.once('exit', () => res()));
  const alive = (): boolean => child.exitCode === null && child.signalCode === null;
  const proc: Proc = {
    child,
    output: () => out,
    alive,
    kill: async () => {
      if (!alive()) return;
      child.kill('SIGCONT');
      child.kill('SIGKILL');
      await exited;
    },
  };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${cmd} did not start in ${opts.timeoutMs ?? 30_000} ms:\n${out}`)), opts.timeoutMs ?? 30_000);
    const onData = (d: Buffer): void => {
      out += d.toString();
      if (ready.test(out)) {
        clearTimeout(timer);
        resolve(proc);
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${cmd} exited (${code}) before it was ready:\n${out}`));
    });
  });
}

/**
 * A private redis-server: no persistence, `extra` arguments (e.g. --replicaof), its working
 * directory (where a replica's full sync writes its RDB) a temporary one, removed when it is killed.
 */
export async function startRedisServer(port: number, extra: readonly string[] = [], prefixCmd: readonly string[] = []): Promise<Proc> {
  const dir = mkdtempSync(join(tmpdir(), 'slackserve-redis-'));
  const args = ['redis-server', '--port', String(port), '--save', '', '--appendonly', 'no', '--dir', dir, ...extra];
  const cmd = [...prefixCmd, ...args];
  const p = await spawnUntil(cmd[0]!, cmd.slice(1), /Ready to accept connections/, { timeoutMs: 10_000 }).catch((e: unknown) => {
    rmSync(dir, { recursive: true, force: true });
    throw e;
  });
  return {
    ...p,
    kill: async () => {
      await p.kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A redis-sentinel monitoring `name` at host:masterPort (quorum 2), with its own config file. */
export async function startSentinel(o: {
  port: number;
  name: string;
  masterPort: number;
  masterHost?: string;
  masterPassword?: string;
  password?: string;
  downAfterMs?: number;
  /** More config lines (TLS: `tls-port`, `tls-cert-file`, ...; then `port` 0). */
  extra?: readonly string[];
}): Promise<Proc & { cleanup(): void }> {
  const dir = mkdtempSync(join(tmpdir(), 'slackserve-sentinel-'));
  const file = join(dir, 'sentinel.conf');
  const lines = [
    `port ${o.port}`,
    'bind 127.0.0.1',
    'daemonize no',
    `dir ${dir}`,
    `sentinel monitor ${o.name} ${o.masterHost ?? '127.0.0.1'} ${o.masterPort} 2`,
    `sentinel down-after-milliseconds ${o.name} ${o.downAfterMs ?? 1000}`,
    `sentinel failover-timeout ${o.name} 10000`,
    `sentinel parallel-syncs ${o.name} 1`,
  ];
  if (o.masterPassword) lines.push(`sentinel auth-pass ${o.name} ${o.masterPassword}`);
  if (o.password) lines.push(`requirepass ${o.password}`, `sentinel sentinel-pass ${o.password}`);
  lines.push(...(o.extra ?? []));
  writeFileSync(file, lines.join('\n') + '\n');
  const p = await spawnUntil('redis-sentinel', [file], /monitor master|Sentinel ID is/, { timeoutMs: 10_000 });
  return { ...p, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** `slackserve worker` on `args` (its Redis flags), resolved once it printed its startup line. */
export function startWorker(args: readonly string[], env: Record<string, string>, prefixCmd: readonly string[] = []): Promise<Proc> {
  const cmd = [...prefixCmd, process.execPath, 'bin/slackserve.js', 'worker', '--metrics-port', '0', '--host', '127.0.0.1', '--threads', '1', '--supernet', SUPERNET_DIR, ...args];
  return spawnUntil(cmd[0]!, cmd.slice(1), /slackserve worker:/, { env: { ...process.env, ...env }, timeoutMs: 60_000 });
}

/** `slackserve frontend` (or serve) on free ports, resolved with its ports once it printed them. */
export async function startFrontend(args: readonly string[], env: Record<string, string>, prefixCmd: readonly string[] = [], command: 'frontend' | 'serve' = 'frontend'): Promise<Proc & { grpcPort: number; httpPort: number }> {
  const cmd = [...prefixCmd, process.execPath, 'bin/slackserve.js', command, '--grpc-port', '0', '--http-port', '0', '--supernet', SUPERNET_DIR, ...args];
  const p = await spawnUntil(cmd[0]!, cmd.slice(1), /gRPC :(\d+), HTTP :(\d+)/, { env: { ...process.env, ...env }, timeoutMs: 60_000 });
  const m = /gRPC :(\d+), HTTP :(\d+)/.exec(p.output());
  return { ...p, grpcPort: Number(m?.[1]), httpPort: Number(m?.[2]) };
}
