/**
 * Several hosts, for real: five network namespaces joined by veth links to a bridge in a sixth
 * (the switch): Redis on one host, a frontend on another (bound to its own address, bearer
 * token required), a worker on each of two more, the client on the fifth. Mid-replay the test
 * pulls one worker host's cable (its switch port goes down: packets vanish, no connection is
 * reset): what that worker held is reclaimed by the other once its heartbeat lapses, and every
 * call is answered. The cable goes back in: the worker's connections resume, it rejoins, and with
 * the other worker stopped it serves every call alone. Namespaces are removed in afterAll, and on
 * process exit should afterAll not run. Skipped (with a message) where namespaces cannot be
 * made: not root, no `ip`, no CAP_SYS_ADMIN.
 */
import { spawnSync } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { hasCommand, type Proc, sleep, spawnUntil, startFrontend, startRedisServer, startWorker } from '../cluster-procs.js';

const tag = process.pid % 100_000;
const subnet = `10.${200 + (process.pid % 50)}.${process.pid % 250}`;
const SWITCH = `ss${tag}-sw`;
const HOSTS = { redis: 1, fe: 2, w1: 3, w2: 4, cli: 5 } as const;
type Host = keyof typeof HOSTS;
const ns = (h: Host): string => `ss${tag}-${h}`;
const ip = (h: Host): string => `${subnet}.${HOSTS[h]}`;
const TOKEN = 'netns-test-token';

function sh(args: readonly string[]): { ok: boolean; out: string } {
  const r = spawnSync('ip', args, { encoding: 'utf8', timeout: 10_000 });
  return { ok: r.status === 0, out: `${r.stdout ?? ''}${r.stderr ?? ''}` };
}
function must(args: readonly string[]): void {
  const r = sh(args);
  if (!r.ok) throw new Error(`ip ${args.join(' ')}: ${r.out}`);
}

/** Whether this machine lets us make namespaces (tried, not guessed). */
function canNetns(): string {
  if (process.platform !== 'linux') return 'not Linux';
  if (process.getuid?.() !== 0) return 'not root';
  if (!hasCommand('ip')) return 'no `ip` (iproute2)';
  if (!hasCommand('redis-server')) return 'no redis-server';
  const probe = `ss${tag}-probe`;
  const r = sh(['netns', 'add', probe]);
  sh(['netns', 'del', probe]);
  return r.ok ? '' : `cannot create a network namespace (${r.out.trim()})`;
}
const WHY_NOT = canNetns();
if (WHY_NOT !== '') console.warn(`multihost-netns.test.ts: SKIPPED: ${WHY_NOT}`);

const made: string[] = [];
function removeNamespaces(): void {
  for (const n of made.splice(0).reverse()) sh(['netns', 'del', n]);
}
process.once('exit', removeNamespaces);

/** The switch namespace with a bridge, and each host namespace cabled to it. */
function buildHosts(): void {
  must(['netns', 'add', SWITCH]);
  made.push(SWITCH);
  must(['-n', SWITCH, 'link', 'set', 'lo', 'up']);
  must(['-n', SWITCH, 'link', 'add', 'br0', 'type', 'bridge']);
  must(['-n', SWITCH, 'link', 'set', 'br0', 'up']);
  for (const h of Object.keys(HOSTS) as Host[]) {
    must(['netns', 'add', ns(h)]);
    made.push(ns(h));
    must(['-n', ns(h), 'link', 'set', 'lo', 'up']);
    const hostEnd = `v${tag}${h}`.slice(0, 15);
    const port = `p${tag}${h}`.slice(0, 15);
    must(['link', 'add', hostEnd, 'type', 'veth', 'peer', 'name', port]);
    must(['link', 'set', hostEnd, 'netns', ns(h)]);
    must(['link', 'set', port, 'netns', SWITCH]);
    must(['-n', ns(h), 'link', 'set', hostEnd, 'name', 'eth0']);
    must(['-n', ns(h), 'addr', 'add', `${ip(h)}/24`, 'dev', 'eth0']);
    must(['-n', ns(h), 'link', 'set', 'eth0', 'up']);
    must(['-n', SWITCH, 'link', 'set', port, 'master', 'br0']);
    must(['-n', SWITCH, 'link', 'set', port, 'up']);
  }
}
/** The switch port of host `h`: pulling its cable. */
const cable = (h: Host, up: boolean): void => must(['-n', SWITCH, 'link', 'set', `p${tag}${h}`.slice(0, 15), up ? 'up' : 'down']);
const inNs = (h: Host): string[] => ['ip', 'netns', 'exec', ns(h)];

const procs: Proc[] = [];
afterAll(async () => {
  for (const p of procs.reverse()) await p.kill();
  removeNamespaces();
});

interface ClientResult {
  readonly sent: number;
  readonly ok: number;
  readonly failed: Record<string, number>;
}
async function runClient(count: number, rate: number, budgetMs: number): Promise<ClientResult> {
  const p = await spawnUntil('ip', ['netns', 'exec', ns('cli'), process.execPath, 'test/fixtures/netns-client.mjs', `${ip('fe')}:8001`, TOKEN, String(count), String(rate), String(budgetMs)], /\{"sent"/, {
    timeoutMs: 60_000 + (count / rate) * 1000 + budgetMs,
  });
  procs.push(p);
  const line = p.output().split('\n').find((l) => l.startsWith('{"sent"'));
  return JSON.parse(line ?? '{}') as ClientResult;
}

describe.skipIf(WHY_NOT !== '')('several hosts (network namespaces)', () => {
  it('a worker host cut off mid-replay: its requests are reclaimed and answered; back on the network it rejoins and serves', async () => {
    buildHosts();
    procs.push(await startRedisServer(6379, ['--bind', ip('redis'), '--protected-mode', 'no'], inNs('redis')));
    const redis = `redis://${ip('redis')}:6379`;
    const env = { SLACKSERVE_QUEUE_PREFIX: 'slackserve', SLACKSERVE_AUTH_TOKENS: TOKEN };
    // started together (each loads the supernet; one after the other is slow on 2 cores)
    const started = await Promise.allSettled([
      startWorker(['--redis', redis, '--host', ip('w1')], env, inNs('w1')),
      startWorker(['--redis', redis, '--host', ip('w2')], env, inNs('w2')),
      startFrontend(['--redis', redis, '--host', ip('fe'), '--grpc-port', '8001', '--http-port', '8000'], env, inNs('fe')),
    ]);
    for (const s of started) if (s.status === 'fulfilled') procs.push(s.value);
    for (const s of started) if (s.status === 'rejected') throw s.reason;
    const [w1, w2, fe] = started.map((s) => (s as PromiseFulfilledResult<Proc>).value) as [Proc, Proc, Proc];

    // 1. 400 calls at 40 req/s; at ~3 s w1's cable is pulled for 4 s
    const replay = runClient(400, 40, 5_000);
    await sleep(3_000);
    cable('w1', false);
    await sleep(4_000);
    expect(w2.output()).toMatch(/reclaimed \d+ request\(s\) left by a dead worker/);
    cable('w1', true);
    const r = await replay;
    console.log(`multihost: ${JSON.stringify(r)}`);
    expect(r.sent).toBe(400);
    // nothing lost: every call answered (budgets are long; reclaim takes < 1 s)
    expect(r.ok, JSON.stringify(r.failed)).toBe(400);

    // 2. w1 rejoined: with w2 stopped, w1 alone answers everything
    await sleep(2_000);
    await w2.kill();
    const alone = await runClient(40, 20, 5_000);
    console.log(`multihost, w1 alone after rejoining: ${JSON.stringify(alone)}`);
    expect(alone.ok, JSON.stringify(alone.failed)).toBe(40);
    // each call was answered once: the frontend counted as many successes as the client saw
    // (answers w1 sent for requests w2 had reclaimed and answered were dropped, not delivered)
    const metrics = spawnSync('ip', ['netns', 'exec', ns('cli'), process.execPath, '-e', `fetch('http://${ip('fe')}:8000/metrics').then((r) => r.text()).then((t) => process.stdout.write(t))`], { encoding: 'utf8', timeout: 20_000 });
    const successes = /slackserve_inference_request_success\{[^}]*\} (\d+)/.exec(metrics.stdout)?.[1];
    expect(Number(successes), metrics.stderr).toBe(r.ok + alone.ok);
    expect(w1.alive()).toBe(true);
    expect(fe.alive()).toBe(true);
    if (process.env.NETNS_DEBUG) console.log(`--- w1\n${w1.output()}\n--- w2\n${w2.output()}\n--- fe\n${fe.output()}`);
  }, 120_000);
});
