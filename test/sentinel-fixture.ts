/**
 * Redis Sentinel for the failover tests (redis-sentinel*.test.ts): a private master and two
 * replicas (passwords, no persistence), three redis-sentinel processes (quorum 2, their own
 * password), the env that points a frontend and a worker at them, and calls with a recorded
 * outcome. Every process goes into `procs`, every temporary directory into `cleanups`.
 */
import { writeFileSync } from 'node:fs';
import { basename } from 'node:path';
import type * as grpc from '@grpc/grpc-js';
import { Redis } from 'ioredis';
import type { OipClient } from '../src/client/oip-client.js';
import { freePort, hasCommand, type Proc, sleep, startRedisServer, startSentinel } from './cluster-procs.js';

export const HAS_SENTINEL = hasCommand('redis-sentinel') && hasCommand('redis-server');
export const NAME = 'slackq';
export const PW = 'master-secret-pw';
export const SENTINEL_PW = 'sentinel-secret-pw';
/** What a client must never see: the Redis driver's own text. */
export const DRIVER_TEXT = /max retries|Reached the|ioredis|ECONNREFUSED|Connection is closed|Stream isn't writeable|NOAUTH|READONLY|redis: /i;

export type Outcome = { ok: true } | { ok: false; code: number; details: string };

/** A connection to one sentinel (it has its own password). */
export const sentinelClient = (port: number): Redis => new Redis({ port, host: '127.0.0.1', password: SENTINEL_PW, maxRetriesPerRequest: 1, lazyConnect: false });

export async function waitFor(what: string, cond: () => Promise<string | boolean>, ms: number): Promise<void> {
  const end = Date.now() + ms;
  let last: unknown = '';
  while (Date.now() < end) {
    last = await cond().catch((e: unknown) => String(e));
    if (last === true || last === '') return;
    await sleep(100);
  }
  throw new Error(`timed out waiting for ${what} (${String(last)})`);
}

/** The master's port, as a sentinel names it. */
export async function masterPort(s: Redis): Promise<number> {
  const addr = (await s.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', NAME)) as [string, string] | null;
  return Number(addr?.[1] ?? 0);
}

/** '' once every sentinel names `masterPort` as master and sees `replicas` in-sync replicas and the other sentinels; else why not. */
export async function settled(sentinels: Redis[], masterPort: number, replicas: number, peers = true): Promise<string> {
  for (const [i, s] of sentinels.entries()) {
    const addr = (await s.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', NAME)) as [string, string] | null;
    if (addr?.[1] !== String(masterPort)) return `sentinel ${i}: master ${addr?.[1]}`;
    const reps = (await s.call('SENTINEL', 'REPLICAS', NAME)) as string[][];
    const views = reps.map((r) => {
      const f = new Map<string, string>();
      for (let k = 0; k + 1 < r.length; k += 2) f.set(r[k]!, r[k + 1]!);
      return f;
    });
    const ok = views.filter((f) => !(f.get('flags') ?? '').includes('down') && f.get('master-link-status') === 'ok' && f.get('master-port') === String(masterPort));
    if (ok.length < replicas) return `sentinel ${i}: replicas ${views.map((f) => `${f.get('port')} ${f.get('flags')} link ${f.get('master-link-status')} -> ${f.get('master-port')}`).join('; ')}`;
    const others = (await s.call('SENTINEL', 'SENTINELS', NAME)) as unknown[];
    if (peers && others.length < sentinels.length - 1) return `sentinel ${i}: sees ${others.length} other sentinels`;
  }
  return '';
}

export interface SentinelCluster {
  /** The first master and its port. */
  readonly redisA: Proc;
  readonly pA: number;
  /** redis-server arguments every member runs with (bind, passwords, no diskless delay). */
  readonly auth: readonly string[];
  readonly sentinels: Redis[];
  readonly sentinelPorts: readonly number[];
  /** SLACKSERVE_* for a frontend or worker that finds the master through the sentinels. */
  env(prefix: string): Record<string, string>;
  /** The redis-server process serving `port`. */
  server(port: number): Proc | undefined;
  /** Kills the first master (SIGKILL); resolves with the port of the replica the sentinels promote once the other follows it. */
  killFirstMaster(): Promise<number>;
}

/**
 * A master, two replicas and three sentinels that see them and each other. The sentinels take a
 * master for down after `downAfterMs` without answers.
 */
export async function startSentinelCluster(procs: Proc[], cleanups: (() => void)[], downAfterMs: number): Promise<SentinelCluster> {
  const [pA, pB, pC, s1, s2, s3] = await Promise.all([freePort(), freePort(), freePort(), freePort(), freePort(), freePort()]);
  const auth = ['--bind', '127.0.0.1', '--requirepass', PW, '--masterauth', PW, '--repl-diskless-sync-delay', '0'];
  const servers = new Map<number, Proc>();
  const redisA = await startRedisServer(pA!, auth);
  procs.push(redisA);
  servers.set(pA!, redisA);
  // two replicas: a request is accepted once one holds it (redisWaitReplicas, 1 with sentinels
  // by default), so with one replica gone the other still takes writes
  for (const port of [pB!, pC!]) {
    const p = await startRedisServer(port, [...auth, '--replicaof', '127.0.0.1', String(pA)]);
    procs.push(p);
    servers.set(port, p);
  }
  const sentinelPorts = [s1!, s2!, s3!];
  for (const port of sentinelPorts) {
    const s = await startSentinel({ port, name: NAME, masterPort: pA!, masterPassword: PW, password: SENTINEL_PW, downAfterMs });
    procs.push(s);
    cleanups.push(s.cleanup);
  }
  const sentinels = sentinelPorts.map(sentinelClient);
  cleanups.push(() => sentinels.forEach((s) => s.disconnect()));
  // the sentinels find the replica (from the master's INFO) and each other (hello messages, every 2 s)
  await waitFor('sentinels to see the replicas and each other', () => settled(sentinels, pA!, 2), 20_000);
  return {
    redisA,
    pA: pA!,
    auth,
    sentinels,
    sentinelPorts,
    server: (port) => servers.get(port),
    killFirstMaster: async () => {
      await redisA.kill();
      let promoted = 0;
      await waitFor(
        'a replica promoted after A was killed, the other following it',
        async () => {
          promoted = await masterPort(sentinels[0]!);
          return promoted === pA ? 'A still master' : settled(sentinels, promoted, 1);
        },
        20_000,
      );
      return promoted;
    },
    env: (prefix) => ({
      SLACKSERVE_QUEUE_PREFIX: prefix,
      SLACKSERVE_REDIS_URL: `redis://:${PW}@unused`,
      SLACKSERVE_REDIS_SENTINELS: sentinelPorts.map((p) => `127.0.0.1:${p}`).join(','),
      SLACKSERVE_REDIS_SENTINEL_NAME: NAME,
      SLACKSERVE_REDIS_SENTINEL_PASSWORD: SENTINEL_PW,
      ...(process.env.SENTINEL_DEBUG ? { DEBUG: process.env.SENTINEL_DEBUG_FILTER ?? 'ioredis:SentinelConnector,ioredis:connection' } : {}),
    }),
  };
}

/**
 * After the test: SENTINEL_DEBUG=DIR writes every process's whole output to DIR/<n>-<program>.log,
 * with ioredis's debug (SENTINEL_DEBUG_FILTER: its DEBUG filter; default the sentinel connector and
 * connections); then every process is killed and every temporary directory removed.
 */
export async function stopSentinelTest(procs: Proc[], cleanups: (() => void)[]): Promise<void> {
  const dir = process.env.SENTINEL_DEBUG;
  if (dir) procs.forEach((p, i) => writeFileSync(`${dir}/${i}-${basename(p.child.spawnargs[2] ?? p.child.spawnargs[0] ?? 'proc')}.log`, p.output()));
  for (const p of procs.reverse()) await p.kill();
  for (const c of cleanups) c();
}

/** One inference call; its outcome instead of a rejection. */
export function inferOutcome(client: OipClient, infer: Parameters<OipClient['infer']>[0]): Promise<Outcome> {
  return client.infer(infer).then(
    () => ({ ok: true }) as const,
    (e: grpc.ServiceError) => ({ ok: false, code: e.code, details: e.details }),
  );
}
