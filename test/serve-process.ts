/**
 * A real `slackserve` server process for robustness tests: a crash (an unhandled rejection ends
 * Node) shows as the process exiting, which an in-process server would hide from the test.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { SUPERNET_DIR } from './helpers.js';

export interface ServeProcess {
  readonly child: ChildProcess;
  readonly grpcPort: number;
  readonly httpPort: number;
  /** Everything the process printed so far (stdout and stderr). */
  output(): string;
  /** True while the process runs. */
  alive(): boolean;
  stop(): Promise<void>;
}

/**
 * Starts `slackserve <command> <args>` on free ports bound to 127.0.0.1 and resolves once it
 * prints its ports. `command` is `serve` or `frontend`.
 */
export function spawnServe(command: 'serve' | 'frontend', args: readonly string[] = [], env: Record<string, string> = {}): Promise<ServeProcess> {
  const child = spawn(
    process.execPath,
    ['bin/slackserve.js', command, '--grpc-port', '0', '--http-port', '0', '--host', '127.0.0.1', '--supernet', SUPERNET_DIR, ...args],
    { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<void>((res) => child.once('exit', () => res()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`slackserve ${command} did not start in 30 s:\n${out}`)), 30_000);
    const onData = (): void => {
      const m = /gRPC :(\d+), HTTP :(\d+)/.exec(out);
      if (!m) return;
      clearTimeout(timer);
      child.stdout?.off('data', onData);
      resolve({
        child,
        grpcPort: Number(m[1]),
        httpPort: Number(m[2]),
        output: () => out,
        alive: () => child.exitCode === null && child.signalCode === null,
        stop: async () => {
          if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
          await exited;
        },
      });
    };
    child.stdout?.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`slackserve ${command} exited (${code}) before it started:\n${out}`));
    });
  });
}
