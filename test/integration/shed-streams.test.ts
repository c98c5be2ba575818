/**
 * Fewer streams for a connection that floods the refusing door (src/api/shed-streams.ts), over
 * real sockets: the limit a client is told (SETTINGS_MAX_CONCURRENT_STREAMS, seen as the client's
 * `remoteSettings`) goes down for the flooding connection only, past its threshold of refusals in
 * 100 ms, and comes back once its refusals stop; through the real server, a flood on one connection
 * does exactly that while a quiet connection keeps the normal limit.
 */
import * as http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import type { ServiceDefinition } from '@grpc/proto-loader';
import { afterAll, describe, expect, it } from 'vitest';
import { ShedStreams } from '../../src/api/shed-streams.js';
import { clientDef, rawReq } from '../api-edge-fixture.js';
import { type Proc, sleep, startFrontend } from '../cluster-procs.js';

/** A client session that records every limit the server announces. */
function observe(port: number): { session: http2.ClientHttp2Session; limits: number[]; next: (want: number, ms: number) => Promise<void> } {
  const session = http2.connect(`http://127.0.0.1:${port}`);
  session.on('error', () => undefined);
  const limits: number[] = [];
  session.on('remoteSettings', (s) => limits.push(s.maxConcurrentStreams ?? -1));
  const next = async (want: number, ms: number): Promise<void> => {
    const end = Date.now() + ms;
    while (limits.at(-1) !== want) {
      if (Date.now() > end) throw new Error(`the server announced ${JSON.stringify(limits)}, never ${want} within ${ms} ms`);
      await sleep(10);
    }
  };
  return { session, limits, next };
}

describe('ShedStreams on a node:http2 server', () => {
  it('lowers only the connection refused past its threshold within 100 ms, and restores it after the hold', async () => {
    const server = http2.createServer({ settings: { maxConcurrentStreams: 100 } });
    const sessions: http2.ServerHttp2Session[] = [];
    server.on('session', (s) => sessions.push(s));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    const shed = new ShedStreams({ normal: 100, shedding: 4, holdMs: 300, now: Date.now });
    expect(shed.threshold).toBe(8);
    const a = observe(port);
    await a.next(100, 2_000);
    const b = observe(port);
    await b.next(100, 2_000);
    const [sa, sb] = sessions;
    try {
      // at the threshold: nothing; and refusals spread over windows never add up
      for (let i = 0; i < 8; i++) shed.refusedOn(sa!);
      await sleep(150);
      for (let i = 0; i < 8; i++) shed.refusedOn(sa!);
      await sleep(100);
      expect(shed.reductions).toBe(0);
      expect(a.limits.at(-1)).toBe(100);
      // one over within a window: that connection alone goes down
      for (let i = 0; i < 9; i++) shed.refusedOn(sa!);
      await a.next(4, 2_000);
      expect(shed.reduced).toBe(1);
      shed.refusedOn(sb!); // a single refusal on the other: it keeps its limit
      // refusals keep it low; their end brings it back (hold 300 ms)
      await sleep(200);
      shed.refusedOn(sa!);
      await sleep(200);
      expect(a.limits.at(-1)).toBe(4);
      await a.next(100, 2_000);
      expect(b.limits).toEqual([100]);
      expect(shed.reduced).toBe(0);
      expect(shed.reductions).toBe(1);
    } finally {
      a.session.close();
      b.session.close();
      shed.close();
      server.close();
    }
  });

  it('does nothing when off (0) or not below the normal limit', async () => {
    const server = http2.createServer({ settings: { maxConcurrentStreams: 100 } });
    const sessions: http2.ServerHttp2Session[] = [];
    server.on('session', (s) => sessions.push(s));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const a = observe((server.address() as AddressInfo).port);
    await a.next(100, 2_000);
    try {
      for (const shedding of [0, 100, 200]) {
        const shed = new ShedStreams({ normal: 100, shedding, now: Date.now });
        for (let i = 0; i < 1000; i++) shed.refusedOn(sessions[0]!);
        expect(shed.enabled).toBe(false);
        expect(shed.reductions).toBe(0);
        shed.close();
      }
    } finally {
      a.session.close();
      server.close();
    }
  });
});

const procs: Proc[] = [];
afterAll(async () => {
  for (const p of procs) await p.kill();
});

describe('the gRPC edge sheds streams of a connection that floods its door', () => {
  it('a flood on one connection past maxInflight: every call answered OK or RESOURCE_EXHAUSTED, that connection told 8 streams then 1000 again, a quiet one never', async () => {
    const fe = await startFrontend(['--host', '127.0.0.1', '--policy', 'static-smallest'], { SLACKSERVE_MAX_INFLIGHT: '2', SLACKSERVE_GRPC_SHEDDING_STREAMS: '8' }, [], 'serve');
    procs.push(fe);
    const method = (clientDef['inference.GRPCInferenceService'] as ServiceDefinition)['ModelInfer']!;
    const msg = method.requestSerialize(rawReq('flood', 16, { parameters: { 'slackserve.latency_budget_ms': { int64Param: '5000' } } }));
    const framed = Buffer.alloc(5 + msg.length);
    framed.writeUInt32BE(msg.length, 1);
    msg.copy(framed, 5);
    const flood = observe(fe.grpcPort);
    const quiet = observe(fe.grpcPort);
    try {
      await flood.next(1000, 10_000);
      await quiet.next(1000, 10_000);
      const call = (): Promise<string> =>
        new Promise((resolve) => {
          const st = flood.session.request({ ':method': 'POST', ':path': '/inference.GRPCInferenceService/ModelInfer', 'content-type': 'application/grpc', te: 'trailers' });
          let status = 'none';
          const take = (h: http2.IncomingHttpHeaders): void => {
            if (h['grpc-status'] !== undefined) status = String(h['grpc-status']);
          };
          st.on('response', take);
          st.on('trailers', take);
          st.on('error', () => undefined);
          st.resume();
          st.on('close', () => resolve(status));
          st.end(framed);
        });
      const codes = await Promise.all(Array.from({ length: 96 }, call));
      expect(codes.every((c) => c === '0' || c === '8'), JSON.stringify(codes)).toBe(true); // OK or RESOURCE_EXHAUSTED
      expect(codes.filter((c) => c === '8').length).toBeGreaterThan(16);
      await flood.next(8, 5_000);
      await flood.next(1000, 5_000); // 1 s after its last refusal
      expect(quiet.limits.every((l) => l === 1000), JSON.stringify(quiet.limits)).toBe(true);
      // and the connection serves normally after
      expect(await call()).toBe('0');
      // The connection's receive window stays HTTP/2's initial 65,535 bytes: it is what holds a
      // flood's bodies back while the door refuses (a 2 MB window raised closed-loop capacity but
      // put 0.4-8% of a 10x burst's admitted calls within the SLO, against 81-90%: docs/serving.md)
      expect(flood.session.state.remoteWindowSize).toBeLessThanOrEqual(65_535);
      expect(quiet.session.state.remoteWindowSize).toBeLessThanOrEqual(65_535);
      const text = await (await fetch(`http://127.0.0.1:${fe.httpPort}/metrics`)).text();
      expect(Number(/^slackserve_edge_stream_limit_reductions(?:{[^}]*})? (\S+)$/m.exec(text)?.[1])).toBeGreaterThanOrEqual(1);
      expect(Number(/^slackserve_edge_connections_stream_limited(?:{[^}]*})? (\S+)$/m.exec(text)?.[1])).toBe(0);
    } finally {
      flood.session.close();
      quiet.session.close();
    }
  }, 60_000);
});
