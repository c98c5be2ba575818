/**
 * Redis over TLS, for real: a private redis-server with a TLS port only (no plaintext port) and a
 * certificate from a CA the test makes with openssl. A worker and a frontend given a `rediss://`
 * URL and that CA (`redisTlsCa`) serve calls through it; a frontend given another CA cannot reach
 * it and says so (clients get UNAVAILABLE naming the address, never the driver's text). Then the
 * same with Sentinels, everything over TLS: a master and a replica with TLS ports only (and TLS
 * replication), three sentinels with TLS ports only; a worker and a frontend find the master
 * through the sentinels, serve, and serve again after a forced failover.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OipClient } from '../../src/client/oip-client.js';
import { Catalogue } from '../../src/supernet/catalogue.js';
import { freePort, hasCommand, type Proc, sleep, startFrontend, startRedisServer, startSentinel, startWorker } from '../cluster-procs.js';
import { loadSample, SUPERNET_DIR } from '../helpers.js';

const HAS_TOOLS = hasCommand('redis-server') && hasCommand('openssl');
const HAS_SENTINEL = HAS_TOOLS && hasCommand('redis-sentinel');
if (!HAS_TOOLS) console.warn('redis-tls.test.ts: SKIPPED: redis-server or openssl is not installed');

const cat = Catalogue.load(SUPERNET_DIR);
const { x } = loadSample(cat);
const MODEL = cat.manifest.name;
const INPUT = cat.manifest.input.name;
const tmp = mkdtempSync(join(tmpdir(), 'slackserve-redis-tls-'));
const procs: Proc[] = [];
const clients: OipClient[] = [];
afterAll(async () => {
  for (const c of clients) c.close();
  for (const p of procs.reverse()) await p.kill();
  rmSync(tmp, { recursive: true, force: true });
});

/** A CA (`<name>-ca.pem`) and, signed by it, a certificate for 127.0.0.1 (`<name>.pem`, `<name>.key`). */
function makeCa(name: string): void {
  const ssl = (...args: string[]): void => void execFileSync('openssl', args, { cwd: tmp, stdio: 'ignore' });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  ssl('req', '-x509', ...ec, '-keyout', `${name}-ca.key`, '-out', `${name}-ca.pem`, '-days', '1', '-subj', `/CN=${name} test CA`);
  writeFileSync(join(tmp, 'server.ext'), 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
  ssl('req', ...ec, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', '/CN=127.0.0.1');
  ssl('x509', '-req', '-in', `${name}.csr`, '-CA', `${name}-ca.pem`, '-CAkey', `${name}-ca.key`, '-CAcreateserial', '-out', `${name}.pem`, '-days', '1', '-extfile', 'server.ext');
}

describe.skipIf(!HAS_TOOLS)('Redis over TLS', () => {
  beforeAll(() => {
    makeCa('redis');
    makeCa('other');
  });

  it('a frontend and a worker reach a TLS-only Redis with rediss:// and redisTlsCa; another CA is refused clearly', async () => {
    const port = await freePort();
    // --port 0: no plaintext port at all, so whatever works went over TLS
    const redis = await startRedisServer(0, ['--tls-port', String(port), '--tls-cert-file', join(tmp, 'redis.pem'), '--tls-key-file', join(tmp, 'redis.key'), '--tls-ca-cert-file', join(tmp, 'redis-ca.pem'), '--tls-auth-clients', 'no']);
    procs.push(redis);
    const env = (ca: string): Record<string, string> => ({
      SLACKSERVE_REDIS_URL: `rediss://127.0.0.1:${port}`,
      SLACKSERVE_REDIS_TLS_CA: join(tmp, ca),
      SLACKSERVE_QUEUE_PREFIX: `slackserve-tls-${process.pid}`,
    });
    const worker = await startWorker([], env('redis-ca.pem'));
    procs.push(worker);
    const fe = await startFrontend(['--host', '127.0.0.1'], env('redis-ca.pem'));
    procs.push(fe);
    const client = new OipClient(`127.0.0.1:${fe.grpcPort}`);
    clients.push(client);
    await client.waitReady(20_000);
    const answers = await Promise.all(
      Array.from({ length: 10 }, (_, i) => client.infer({ model: MODEL, images: x.slice(i * 784, (i + 1) * 784), shape: [1, 1, 28, 28], inputName: INPUT, params: { 'slackserve.latency_budget_ms': 5_000 } })),
    );
    expect(answers.map((a) => a.classes.length)).toEqual(Array(10).fill(1));

    // the wrong CA: the TLS handshake fails, the frontend says Redis is unreachable, calls get UNAVAILABLE
    const wrong = await startFrontend(['--host', '127.0.0.1'], env('other-ca.pem'));
    procs.push(wrong);
    const end = Date.now() + 10_000;
    while (!wrong.output().includes(`redis at 127.0.0.1:${port} unreachable`) && Date.now() < end) await sleep(100);
    expect(wrong.output()).toContain(`redis at 127.0.0.1:${port} unreachable`);
    // and it keeps retrying without dying: a failed handshake's second socket error (the server's
    // alert) once ended the process, unlistened (seen in CI)
    await sleep(2_000);
    expect(wrong.alive(), wrong.output()).toBe(true);
    const other = new OipClient(`127.0.0.1:${wrong.grpcPort}`);
    clients.push(other);
    const err = await other.infer({ model: MODEL, images: x.slice(0, 784), shape: [1, 1, 28, 28], inputName: INPUT }).then(
      () => null,
      (e: grpc.ServiceError) => e,
    );
    expect(err?.code).toBe(grpc.status.UNAVAILABLE);
    expect(err?.details).toMatch(/^queue backend unavailable/);
    expect(err?.details).not.toMatch(/ioredis|certificate|SSL|ECONN/i);
  }, 90_000);

  it.skipIf(!HAS_SENTINEL)('with Sentinels over TLS: the master is found, served, and found again after a forced failover', async () => {
    const NAME = 'tlsq';
    const tls = ['--tls-cert-file', join(tmp, 'redis.pem'), '--tls-key-file', join(tmp, 'redis.key'), '--tls-ca-cert-file', join(tmp, 'redis-ca.pem'), '--tls-auth-clients', 'no', '--tls-replication', 'yes'];
    const [pM, pR, s1, s2, s3] = await Promise.all([freePort(), freePort(), freePort(), freePort(), freePort()]);
    procs.push(await startRedisServer(0, ['--tls-port', String(pM!), ...tls]));
    procs.push(await startRedisServer(0, ['--tls-port', String(pR!), ...tls, '--replicaof', '127.0.0.1', String(pM!)]));
    const sentinelPorts = [s1!, s2!, s3!];
    for (const port of sentinelPorts) {
      const conf = ['port 0', `tls-port ${port}`, `tls-cert-file ${join(tmp, 'redis.pem')}`, `tls-key-file ${join(tmp, 'redis.key')}`, `tls-ca-cert-file ${join(tmp, 'redis-ca.pem')}`, 'tls-auth-clients no', 'tls-replication yes'];
      const s = await startSentinel({ port: 0, name: NAME, masterPort: pM!, extra: conf });
      procs.push({ ...s, kill: async () => (await s.kill(), s.cleanup()) });
    }
    const ca = readFileSync(join(tmp, 'redis-ca.pem'));
    const sentinel = new Redis({ host: '127.0.0.1', port: s1!, tls: { ca }, maxRetriesPerRequest: 1 });
    try {
      const masterPort = async (): Promise<number> => Number(((await sentinel.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', NAME)) as [string, string])[1]);
      // the sentinels find the replica and each other (over TLS)
      const settled = async (): Promise<boolean> => {
        const reps = (await sentinel.call('SENTINEL', 'REPLICAS', NAME)) as string[][];
        const ok = reps.filter((r) => r.includes('master-link-status') && r[r.indexOf('master-link-status') + 1] === 'ok' && !(r[r.indexOf('flags') + 1] ?? '').includes('down'));
        const others = (await sentinel.call('SENTINEL', 'SENTINELS', NAME)) as unknown[];
        return ok.length >= 1 && others.length >= 2;
      };
      let end = Date.now() + 25_000;
      while (!(await settled().catch(() => false)) && Date.now() < end) await sleep(200);
      expect(await settled()).toBe(true);

      const env = {
        SLACKSERVE_REDIS_URL: 'rediss://sentinel',
        SLACKSERVE_REDIS_SENTINELS: sentinelPorts.map((p) => `127.0.0.1:${p}`).join(','),
        SLACKSERVE_REDIS_SENTINEL_NAME: NAME,
        SLACKSERVE_REDIS_TLS_CA: join(tmp, 'redis-ca.pem'),
        SLACKSERVE_QUEUE_PREFIX: `slackserve-tls-sentinel-${process.pid}`,
      };
      procs.push(await startWorker([], env));
      const fe = await startFrontend(['--host', '127.0.0.1'], env);
      procs.push(fe);
      expect(fe.output()).toContain(`master "${NAME}" via sentinels`);
      const client = new OipClient(`127.0.0.1:${fe.grpcPort}`);
      clients.push(client);
      await client.waitReady(20_000);
      const ten = (): Promise<number[]> =>
        Promise.all(Array.from({ length: 10 }, (_, i) => client.infer({ model: MODEL, images: x.slice(i * 784, (i + 1) * 784), shape: [1, 1, 28, 28], inputName: INPUT, params: { 'slackserve.latency_budget_ms': 5_000 } }).then((a) => a.classes.length)));
      expect(await ten()).toEqual(Array(10).fill(1));

      // a forced failover: the replica becomes master; the frontend and the worker follow it
      const before = await masterPort();
      expect(await sentinel.call('SENTINEL', 'FAILOVER', NAME)).toBe('OK');
      end = Date.now() + 20_000;
      while ((await masterPort().catch(() => before)) === before && Date.now() < end) await sleep(200);
      expect(await masterPort()).toBe(before === pM ? pR : pM);
      end = Date.now() + 15_000;
      let served = false;
      while (!served && Date.now() < end) {
        served = await ten().then(
          (r) => r.every((n) => n === 1),
          () => false,
        );
        if (!served) await sleep(300);
      }
      expect(served).toBe(true);
    } finally {
      sentinel.disconnect();
    }
  }, 120_000);
});
