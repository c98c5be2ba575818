import { describe, expect, it } from 'vitest';
import { OUR_PERF_COLUMNS, PERF_ANALYZER_HEADER, perfCsv, requestsCsv, summarize } from '../../src/replay/report.js';
import { reportHtml } from '../../src/replay/report-html.js';
import { schedule } from '../../src/replay/replayer.js';
import type { RequestRecord } from '../../src/replay/types.js';

const rec = (i: number, o: Partial<RequestRecord> = {}): RequestRecord => ({
  i,
  scheduledMs: i * 10,
  behindMs: 0,
  latencyMs: 10,
  sloMs: 20,
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
  queueUs: 1000,
  computeUs: 2000,
  downgraded: false,
  deadlineAnswer: false,
  serverDeadlineMet: true,
  ...o,
});

// 10 requests: 6 met (one of them wrong vs its label), 1 late, 2 shed, 1 invalid
const fixture: RequestRecord[] = [
  ...[0, 1, 2, 3, 4].map((i) => rec(i)),
  rec(5, { predicted: 3, correct: 0, exit: 's1b0' }),
  rec(6, { latencyMs: 25, subnet: 'b' }),
  rec(7, { outcome: 'error', status: 'UNAVAILABLE', message: 'Request timeout expired: ... rejected at admission', subnet: '', exit: '' }),
  rec(8, { outcome: 'error', status: 'UNAVAILABLE', message: 'Request timeout expired', subnet: '', exit: '' }),
  rec(9, { outcome: 'error', status: 'INVALID_ARGUMENT', message: 'bad', subnet: '', exit: '' }),
];

describe('replay accounting', () => {
  it('computes attainment, goodput, accuracy and rates on a fixture', () => {
    const s = summarize(fixture, 2);
    expect(s.requests).toBe(10);
    expect(s.answered + s.errors).toBe(10);
    expect(s.slo_attainment).toBe(0.6);
    expect(s.goodput_rps).toBe(3);
    expect(s.served_accuracy).toBeCloseTo(5 / 6, 4);
    expect(s.shed_rate).toBe(0.2);
    expect(s.errors_by_status).toEqual({ UNAVAILABLE: 2, INVALID_ARGUMENT: 1 });
    expect(s.early_answer_rate).toBe(0.1);
    expect(s.subnet_mix).toEqual({ a: 0.8571, b: 0.1429 });
  });

  it('counts served accuracy over every image of the answers within the SLO, not just the first', () => {
    // 16-image answers: 16/16, 12/16 and 0/16 right within the SLO; a late one (16/16) does not count
    const multi = [
      rec(0, { images: 16, correct: 16 }),
      rec(1, { images: 16, correct: 12, predicted: 1 }),
      rec(2, { images: 16, correct: 0, predicted: 2 }),
      rec(3, { images: 16, correct: 16, latencyMs: 30 }),
    ];
    expect(summarize(multi, 1).served_accuracy).toBeCloseTo(28 / 48, 4);
    // the first image's verdict alone would say 2/3
    expect(summarize(multi, 1).served_accuracy).not.toBeCloseTo(2 / 3, 2);
    const header = requestsCsv(multi).split('\n')[0]!.split(',');
    const row = requestsCsv(multi).split('\n')[2]!.split(',');
    expect(row[header.indexOf('images')]).toBe('16');
    expect(row[header.indexOf('correct')]).toBe('12');
  });

  it('writes one requests.csv row per request and perf.csv with perf_analyzer\'s exact header first', () => {
    const csv = requestsCsv(fixture).trim().split('\n');
    expect(csv).toHaveLength(11);
    expect(new Set(csv.slice(1).map((l) => l.split(',')[0])).size).toBe(10);
    const perf = perfCsv(fixture, summarize(fixture, 2)).trim().split('\n');
    expect(perf[0]).toBe(
      'Request Rate,Inferences/Second,Client Send,Network+Server Send/Recv,Server Queue,Server Compute Input,Server Compute Infer,Server Compute Output,Client Recv,p50 latency,p90 latency,p95 latency,p99 latency,' +
        OUR_PERF_COLUMNS.join(','),
    );
    expect(PERF_ANALYZER_HEADER).toHaveLength(13);
    expect(perf[1]!.split(',').length).toBe(PERF_ANALYZER_HEADER.length + OUR_PERF_COLUMNS.length);
    expect(reportHtml([{ name: 'x', records: fixture, summary: summarize(fixture, 2) }], 't')).toMatch(/<svg/);
  });

  it('schedules every trace request once (speed, duration, seeded rate scaling)', () => {
    const trace = Array.from({ length: 1000 }, (_, i) => ({ t_ms: i, slo_ms: 10, priority: 0, class: 'default' }));
    expect(schedule({ trace }, 16)).toHaveLength(1000);
    const fast = schedule({ trace, speed: 2 }, 16);
    expect(fast[999]!.t_ms).toBe(499.5);
    expect(schedule({ trace, durationS: 0.5 }, 16)).toHaveLength(501);
    const half = schedule({ trace, rateScale: 0.5, seed: 3 }, 16).length;
    expect(half).toBeGreaterThan(420);
    expect(half).toBeLessThan(580);
    expect(schedule({ trace, rateScale: 0.5, seed: 3 }, 16)).toHaveLength(half);
    const double = schedule({ trace, rateScale: 2 }, 16);
    expect(double).toHaveLength(2000);
    expect(double.map((r) => r.i)).toEqual(double.map((_, i) => i));
  });
});
