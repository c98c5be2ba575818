import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SlackserveError } from '../../src/errors.js';
import { formatTrace, parseTrace, readTraceFile, toColumns, writeTraceFile, type TraceRequest } from '../../src/trace/format.js';
import { poisson } from '../../src/trace/generators.js';
import { formatTraceStats, traceStats } from '../../src/trace/stats.js';

const dir = mkdtempSync(join(tmpdir(), 'slackserve-trace-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The error parseTrace throws for `text` (fails the test when it does not throw). */
function parseError(text: string, source = 'traces/x.csv'): SlackserveError {
  try {
    parseTrace(text, source);
  } catch (err) {
    expect(err).toBeInstanceOf(SlackserveError);
    return err as SlackserveError;
  }
  throw new Error('parseTrace accepted a malformed trace');
}

const mixed: TraceRequest[] = [
  { t_ms: 0, slo_ms: 20, min_accuracy: 0.9, priority: 1, class: 'gold' },
  { t_ms: 0, slo_ms: 100, priority: 0, class: 'default' },
  { t_ms: 12.345, slo_ms: 36.5, min_accuracy: 0, priority: 2, class: 'bulk.v2-x_1' },
  { t_ms: 1e6 / 3, slo_ms: 1e-3, priority: 0, class: 'gold' },
];

describe('trace format', () => {
  it('round-trips every field exactly, including doubles that need all 17 digits', () => {
    const text = formatTrace(mixed, ['made by a test']);
    expect(text.split('\n').slice(0, 2)).toEqual(['# made by a test', 't_ms,slo_ms,min_accuracy,priority,class']);
    expect(parseTrace(text)).toEqual(mixed);
    const gen = poisson({ rate: 500, durationS: 10, seed: 3, classes: [{ name: 'a', share: 1, sloMs: 20, minAccuracy: 0.8, priority: 1 }, { name: 'b', share: 2, sloMs: 80 }] });
    expect(parseTrace(formatTrace(gen))).toEqual(gen);
  });

  it('leaves out optional columns that hold only defaults', () => {
    const plain = [{ t_ms: 1.5, slo_ms: 50, priority: 0, class: 'default' }];
    expect(formatTrace(plain)).toBe('t_ms,slo_ms\n1.5,50\n');
  });

  it('reads columns in any order, comments, blank lines, CRLF and empty optional fields', () => {
    const text = '# a comment\r\n\r\nclass,priority,slo_ms,min_accuracy,t_ms\r\ngold,1,20,0.75,0\r\n\r\n# another\r\n,,30,,5.5\r\n';
    expect(parseTrace(text)).toEqual([
      { t_ms: 0, slo_ms: 20, min_accuracy: 0.75, priority: 1, class: 'gold' },
      { t_ms: 5.5, slo_ms: 30, priority: 0, class: 'default' },
    ]);
    expect(parseTrace('t_ms,slo_ms\n')).toEqual([]);
  });

  it.each([
    ['a bad number', 't_ms,slo_ms\n0,10\n1,10\n2,abc\n', 4, 'slo_ms "abc" is not a positive number'],
    ['a negative slo', 't_ms,slo_ms\n0,-5\n', 2, 'slo_ms "-5" is not a positive number'],
    ['a zero slo', '# c\nt_ms,slo_ms\n0,0\n', 3, 'slo_ms "0" is not a positive number'],
    ['an empty t_ms', 't_ms,slo_ms\n0,1\n,1\n', 3, 't_ms "" is not a number >= 0'],
    ['a negative t_ms', 't_ms,slo_ms\n-1,1\n', 2, 't_ms "-1" is not a number >= 0'],
    ['a missing column', '\n# header next\nt_ms,class\n0,a\n', 3, 'the header has no slo_ms column'],
    ['a missing t_ms column', 'slo_ms\n10\n', 1, 'the header has no t_ms column'],
    ['a wrong field count', 't_ms,slo_ms\n0,10\n1,10,7\n', 3, 'expected 2 fields, got 3'],
    ['a decreasing t_ms', 't_ms,slo_ms\n0,10\n5,10\n\n4.5,10\n', 5, 't_ms 4.5 is before the previous row\'s 5'],
    ['an unknown column', 't_ms,slo_ms,deadline\n0,1,2\n', 1, 'unknown column "deadline"'],
    ['a duplicate column', 't_ms,slo_ms,t_ms\n', 1, 'duplicate column "t_ms"'],
    ['min_accuracy above 1', 't_ms,slo_ms,min_accuracy\n0,1,1.5\n', 2, 'min_accuracy "1.5" is not a number in 0..1'],
    ['a fractional priority', 't_ms,slo_ms,priority\n0,1,0\n0,1,1.5\n', 3, 'priority "1.5" is not an integer >= 0'],
    ['a negative priority', 't_ms,slo_ms,priority\n0,1,-1\n', 2, 'priority "-1" is not an integer >= 0'],
    ['a bad class label', 't_ms,slo_ms,class\n0,1,ok\n1,1,no way\n', 3, 'class "no way" may only contain'],
  ])('rejects %s with the line number', (_what, text, line, message) => {
    const e = parseError(text);
    expect(e.code).toBe('TRACE_INVALID');
    expect(e.message).toContain(`traces/x.csv line ${line}: ${message}`);
    expect(e.details).toMatchObject({ source: 'traces/x.csv', line });
  });

  it('rejects a file without a header', () => {
    expect(parseError('# only a comment\n\n').message).toMatch(/^traces\/x\.csv: no header line/);
  });

  it('writes and reads plain and gzip files', async () => {
    const reqs = poisson({ rate: 1000, durationS: 2, sloMs: 25, seed: 9, minAccuracy: 0.7 });
    for (const name of ['t.csv', 't.csv.gz']) {
      const path = join(dir, name);
      await writeTraceFile(path, reqs, ['gen']);
      const bytes = readFileSync(path);
      expect(bytes[0] === 0x1f && bytes[1] === 0x8b).toBe(name.endsWith('.gz'));
      expect(await readTraceFile(path)).toEqual(reqs);
    }
    await expect(readTraceFile(join(dir, 'missing.csv'))).rejects.toMatchObject({ code: 'TRACE_INVALID' });
  });

  it('parses a million-row trace in a few seconds', () => {
    const rows = ['t_ms,slo_ms,class'];
    for (let i = 0; i < 1_000_000; i++) rows.push(`${i / 10},${i % 2 ? 36 : 100},${i % 3 ? 'a' : ''}`);
    const text = rows.join('\n');
    const t0 = performance.now();
    const reqs = parseTrace(text);
    const ms = performance.now() - t0;
    expect(reqs.length).toBe(1_000_000);
    expect(reqs[999_999]).toEqual({ t_ms: 99999.9, slo_ms: 36, priority: 0, class: 'default' });
    expect(reqs[999_998]).toEqual({ t_ms: 99999.8, slo_ms: 100, priority: 0, class: 'a' });
    expect(ms).toBeLessThan(5000);
  });

  it('converts to columns: NaN for no accuracy floor, class ids in order of appearance', () => {
    const c = toColumns(mixed);
    expect(Array.from(c.t_ms)).toEqual(mixed.map((r) => r.t_ms));
    expect(Array.from(c.slo_ms)).toEqual([20, 100, 36.5, 1e-3]);
    expect(Array.from(c.min_accuracy)).toEqual([0.9, NaN, 0, NaN]);
    expect(Array.from(c.priority)).toEqual([1, 0, 2, 0]);
    expect(c.classes).toEqual(['gold', 'default', 'bulk.v2-x_1']);
    expect(Array.from(c.classId)).toEqual([0, 1, 2, 0]);
  });
});

describe('traceStats', () => {
  const fixture = parseTrace(
    ['t_ms,slo_ms,class,min_accuracy,priority', '0,10,a,0.9,1', '50,20,a,,0', '100,30,b,,0', '150,40,a,0.5,1', '1000,50,b,,0', '2000,60,,,2'].join('\n'),
  );

  it('computes rate, peaks, CV², SLO spread and the class mix of a hand-built trace', () => {
    const s = traceStats(fixture);
    expect(s.count).toBe(6);
    expect(s.duration_s).toBe(2);
    expect(s.mean_rate).toBe(3);
    // 1 s windows hold 4, 1, 1 arrivals; 100 ms windows at most 2 (0 and 50, 100 and 150)
    expect(s.peak_rate_1s).toBe(4);
    expect(s.peak_to_mean_1s).toBeCloseTo(4 / 3, 12);
    expect(s.peak_rate_100ms).toBe(20);
    expect(s.peak_to_mean_100ms).toBeCloseTo(20 / 3, 12);
    // gaps 50, 50, 50, 850, 1000: mean 400, population variance 186000
    expect(s.interarrival_cv2).toBeCloseTo(186000 / 160000, 12);
    expect(s.slo_ms).toEqual({ min: 10, median: 35, max: 60 });
    expect(s.classes).toEqual([
      { name: 'a', count: 3, share: 0.5 },
      { name: 'b', count: 2, share: 2 / 6 },
      { name: 'default', count: 1, share: 1 / 6 },
    ]);
    expect(s.priorities).toEqual([{ priority: 0, count: 3 }, { priority: 1, count: 2 }, { priority: 2, count: 1 }]);
    expect(s.min_accuracy_share).toBeCloseTo(2 / 6, 12);
    expect(formatTraceStats(s, 'fixture')).toMatch(/^fixture\n {2}requests +6\n/);
  });

  it('reports undefined quantities of tiny traces as NaN (null in JSON)', () => {
    const s = traceStats(fixture.slice(0, 1));
    expect(s.mean_rate).toBeNaN();
    expect(s.interarrival_cv2).toBeNaN();
    expect(JSON.parse(JSON.stringify(s)).mean_rate).toBeNull();
  });
});
