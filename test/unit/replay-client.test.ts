/** The replay client's own accounting: the client-limited rule, its summary fields, thread count. */
import { describe, expect, it } from 'vitest';
import { clientLine, clientWarning } from '../../src/cli/replay-commands.js';
import { autoThreads, isHostPort, isLocalTarget, peakRate, pickTransport, RPS_PER_THREAD } from '../../src/replay/replayer.js';
import { CLIENT_BEHIND_P99_LIMIT_MS, CLIENT_CPU_SHARE_LIMIT, clientLimitedReason, summarize } from '../../src/replay/report.js';
import type { ClientStats, RequestRecord } from '../../src/replay/types.js';

const rec = (i: number, behindMs: number): RequestRecord => ({
  i,
  scheduledMs: i,
  behindMs,
  latencyMs: 5,
  sloMs: 50,
  sloClass: 'default',
  outcome: 'ok',
  status: 'OK',
  message: '',
  subnet: 'a',
  exit: 'final',
  predicted: 1,
  label: 1,
  images: 1,
  correct: 1,
  queueUs: 0,
  computeUs: 0,
  downgraded: false,
  deadlineAnswer: false,
  serverDeadlineMet: true,
});

const stats = (o: Partial<ClientStats> = {}): ClientStats => ({ threads: 1, transport: 'grpc-js', priority: 'normal', sent: 1000, cpuUs: 200_000, wallS: 2, threadBusyMax: 0.3, machineCores: 2, sharesMachine: true, cpuIncludesServer: false, ...o });
const base = { behindP99Ms: 1, cpuCores: 0.1, machineCores: 2, sharesMachine: true, threadBusyMax: 0.3 };

describe('client-limited rule', () => {
  it('flags a p99 send lateness above the limit, and says whether a thread or the machine was short', () => {
    expect(clientLimitedReason(base)).toBeNull();
    expect(clientLimitedReason({ ...base, behindP99Ms: CLIENT_BEHIND_P99_LIMIT_MS })).toBeNull();
    expect(clientLimitedReason({ ...base, behindP99Ms: 12, threadBusyMax: 0.97 })).toMatch(/behind schedule: p99 send lateness 12\.0 ms > 5 ms.*97% busy: add --threads/);
    expect(clientLimitedReason({ ...base, behindP99Ms: 12, threadBusyMax: 0.4 })).toMatch(/only 40% busy, so it waited for CPU/);
  });

  it('flags client CPU above its share of the machine only when it shares the machine with the server', () => {
    const over = CLIENT_CPU_SHARE_LIMIT * 2 + 0.01;
    expect(clientLimitedReason({ ...base, cpuCores: over })).toMatch(/client CPU 0\.51 cores > 0\.50 \(25% of this machine's 2 cores/);
    expect(clientLimitedReason({ ...base, cpuCores: over, sharesMachine: false })).toBeNull();
    expect(clientLimitedReason({ ...base, cpuCores: over, machineCores: 8 })).toBeNull();
    expect(clientLimitedReason({ ...base, cpuCores: 3, behindP99Ms: 30 })).toMatch(/behind schedule.*; client CPU/);
  });

  it('puts the client figures and the verdict into the summary', () => {
    const records = Array.from({ length: 100 }, (_, i) => rec(i, i === 99 ? 40 : i < 98 ? 0.2 : 9));
    const ok = summarize(records, 1, 40, stats());
    expect(ok.client_behind_ms).toEqual({ p50: 0.2, p99: 40, max: 40 });
    expect(ok.client_cpu_us_per_request).toBe(200);
    expect(ok.client_cpu_cores).toBe(0.1);
    expect(ok.client_threads).toBe(1);
    expect(ok.client_priority).toBe('normal');
    expect(summarize(records, 1, 40, stats({ priority: 'realtime' })).client_priority).toBe('realtime');
    expect(ok.client_limited).toBe(true);
    expect(ok.client_limited_reason).toMatch(/p99 send lateness 40\.0 ms/);
    const fine = summarize(records.slice(0, 98), 1, 0.2, stats());
    expect(fine.client_limited).toBe(false);
    expect(fine.client_limited_reason).toBeNull();
    const hot = summarize(records.slice(0, 98), 1, 0.2, stats({ cpuUs: 1_500_000 }));
    expect(hot.client_cpu_cores).toBe(0.75);
    expect(hot.client_limited_reason).toMatch(/client CPU 0\.75 cores/);
    expect(summarize(records.slice(0, 98), 1, 0.2, stats({ cpuUs: 1_500_000, sharesMachine: false })).client_limited).toBe(false);
    // without client stats (fixtures, other callers): lateness only, CPU unknown
    const bare = summarize(records, 1);
    expect(bare.client_cpu_us_per_request).toBeNull();
    expect(bare.client_priority).toBeNull();
    expect(bare.client_limited).toBe(true);
  });

  it('prints a warning and marks the summary line of a client-limited run', () => {
    const records = Array.from({ length: 100 }, (_, i) => rec(i, i === 99 ? 40 : 0.2));
    const limited = summarize(records.concat(records.map((r) => ({ ...r, i: r.i + 100, behindMs: 30 }))), 1, 40, stats());
    expect(clientWarning('slackfit', limited)).toMatch(/^warning: slackfit: the client, not the server, limited this run: behind schedule/);
    expect(clientLine(limited)).toMatch(/client: 1 sender thread \(grpc-js\), behind schedule p50 .* ms, CPU 200 us\/request \(0\.10 cores\) {2}\[CLIENT-LIMITED\]$/);
    const fine = summarize(records.slice(0, 50), 1, 0.2, stats());
    expect(clientWarning('slackfit', fine)).toBeNull();
    expect(clientLine(fine)).not.toMatch(/CLIENT-LIMITED/);
  });
});

describe('sender threads', () => {
  const at = (rate: number, seconds: number) => Array.from({ length: rate * seconds }, (_, i) => ({ t_ms: (i * 1000) / rate }));

  it('counts the busiest second and gives a thread per RPS_PER_THREAD of it, capped by the cores', () => {
    expect(peakRate(at(200, 3))).toBe(200);
    expect(peakRate([...at(100, 2), ...at(900, 1).map((r) => ({ t_ms: r.t_ms + 5000 }))])).toBe(900);
    expect(autoThreads(at(200, 2), { cores: 16 })).toBe(1);
    expect(autoThreads(at(RPS_PER_THREAD * 3, 1), { cores: 16 })).toBe(3);
    expect(autoThreads(at(RPS_PER_THREAD * 3, 1), { cores: 2 })).toBe(2);
    // a server on this machine keeps a core
    expect(autoThreads(at(RPS_PER_THREAD * 3, 1), { cores: 2, localServer: true })).toBe(1);
    expect(autoThreads(at(RPS_PER_THREAD * 20, 1), { cores: 64 })).toBe(8);
    expect(autoThreads([], { cores: 4 })).toBe(1);
  });

  it('picks h2 where it can dial the target, grpc-js otherwise, and refuses h2 for other targets', () => {
    for (const t of ['127.0.0.1:8001', 'localhost:8001', '[::1]:8001', 'host-a.example:50051']) expect(isHostPort(t), t).toBe(true);
    for (const t of ['dns:///localhost:8001', 'unix:/tmp/s', 'localhost']) expect(isHostPort(t), t).toBe(false);
    expect(pickTransport('127.0.0.1:8001', 'auto')).toBe('h2');
    expect(pickTransport('dns:///localhost:8001', 'auto')).toBe('grpc-js');
    expect(pickTransport('127.0.0.1:8001', 'grpc-js')).toBe('grpc-js');
    expect(() => pickTransport('unix:/tmp/s', 'h2')).toThrow(/plain host:port/);
  });

  it('knows which targets are this machine', () => {
    for (const t of ['127.0.0.1:8001', 'localhost:8001', '[::1]:8001', 'dns:///localhost:8001', 'unix:/tmp/s']) expect(isLocalTarget(t), t).toBe(true);
    expect(isLocalTarget('192.0.2.7:8001')).toBe(false);
    expect(isLocalTarget('example.invalid:8001')).toBe(false);
  });
});
