/** Shared pieces of the serving benchmarks: a server in its own process, and the compute limit. */
import { spawn, type ChildProcess } from 'node:child_process';
import { OipClient } from '../../src/client/oip-client.js';
import { ordinaryPriority } from '../../src/client/priority.js';
import { replay, type ReplayResult } from '../../src/replay/replayer.js';
import type { TraceRequest } from '../../src/trace/format.js';
import { Executor } from '../../src/runtime/executor.js';
import { syntheticBatch } from '../../src/runtime/timing.js';
import { Catalogue } from '../../src/supernet/catalogue.js';
import { loadReplaySet } from '../../src/supernet/sample.js';

export const SUPERNET = 'supernets/fmnist-resnet';
export const log = (s: string): boolean => process.stderr.write(s + '\n');

export interface Spawned {
  readonly proc: ChildProcess;
  readonly target: string;
  stop(): Promise<void>;
}

/** `slackserve serve ...` in a child process, ready to answer (at ordinary priority under a realtime client). */
export async function spawnServer(args: readonly string[], grpcPort: number, env: Record<string, string> = {}): Promise<Spawned> {
  const [cmd, ...argv] = ordinaryPriority([process.execPath, 'bin/slackserve.js', 'serve', '--grpc-port', String(grpcPort), '--http-port', String(grpcPort - 1), ...args]) as [string, ...string[]];
  const proc = spawn(cmd, argv, {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  proc.stdout?.on('data', (d: Buffer) => log(`[server] ${d.toString().trim()}`));
  const target = `127.0.0.1:${grpcPort}`;
  const c = new OipClient(target);
  try {
    await c.waitReady(30_000);
  } finally {
    c.close();
  }
  return {
    proc,
    target,
    stop: () =>
      new Promise<void>((res) => {
        proc.once('exit', () => res());
        proc.kill('SIGTERM');
        setTimeout(() => proc.kill('SIGKILL'), 10_000).unref();
      }),
  };
}

/**
 * The runtime's own best throughput on a subnet: the executor (same threads as the server) kept
 * busy with batch-`batch` runs, one in flight per thread, for `seconds`. Images per second.
 */
export async function runtimeBest(subnet: string, threads: number, seconds: number, batch = 64): Promise<number> {
  const cat = Catalogue.load(SUPERNET);
  const ex = await Executor.start(SUPERNET, { threads, intraOpThreads: 1, executionProvider: 'cpu', spinning: false, maxBatch: 64, encoding: 'branched' });
  try {
    const x = syntheticBatch(batch, cat.sampleSize);
    for (let i = 0; i < 5; i++) await ex.run(x.slice(), subnet);
    let images = 0;
    const t0 = performance.now();
    const end = t0 + seconds * 1000;
    await Promise.all(
      Array.from({ length: threads }, async () => {
        while (performance.now() < end) {
          await ex.run(x.slice(), subnet);
          images += batch;
        }
      }),
    );
    return images / ((performance.now() - t0) / 1000);
  } finally {
    await ex.close();
  }
}

export const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : (s[(s.length - 1) >> 1]! + s[s.length >> 1]!) / 2;
};

/**
 * A trace replayed against `target` with the supernet's labelled test images, `k` per request,
 * logging progress every 10 s as `label`.
 */
export async function replayLogged(target: string, trace: readonly TraceRequest[], k: number, label: string, threads?: number): Promise<ReplayResult> {
  const cat = Catalogue.load(SUPERNET);
  const { sample, x: images } = loadReplaySet(cat);
  let last = 0;
  return replay({
    target,
    model: cat.manifest.name,
    inputName: cat.manifest.input.name,
    trace,
    images,
    labels: sample.labels,
    sampleShape: cat.sampleShape,
    imagesPerRequest: k,
    ...(threads !== undefined ? { threads } : {}),
    onProgress: (p) => {
      if (p.elapsedS - last >= 10 || p.done === p.total) {
        last = p.elapsedS;
        log(`  ${label}: ${p.done}/${p.total} answered, attainment so far ${p.done ? ((100 * p.met) / p.done).toFixed(2) : '-'}%, client behind by up to ${p.maxBehindMs.toFixed(0)} ms`);
      }
    },
  });
}
