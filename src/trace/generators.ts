/**
 * Seeded request-trace generators (definitions: traces/README.md). Each one first draws arrival
 * times, then labels them with an SLO (fixed, or per class). Arrival times and class labels come
 * from separate streams of the seed, so adding classes to a trace does not move its arrivals.
 *
 * Arrival times are rounded to 1 µs: a trace file then stores them in at most 3 decimals and
 * parseTrace(formatTrace(trace)) gives back exactly the generated numbers.
 */
import { SlackserveError } from '../errors.js';
import { DEFAULT_CLASS, isValidClassName, readTextFile, type TraceRequest } from './format.js';
import { Rng } from './rng.js';

/** One request class: drawn with probability share / (sum of shares). */
export interface TraceClass {
  readonly name: string;
  readonly share: number;
  readonly sloMs: number;
  readonly minAccuracy?: number;
  readonly priority?: number;
}

export interface CommonOptions {
  /** trace length, seconds */
  readonly durationS: number;
  readonly seed: number;
  /** SLO of every request; required unless `classes` is given */
  readonly sloMs?: number;
  /** accuracy floor of every request (a class's own minAccuracy wins) */
  readonly minAccuracy?: number;
  readonly classes?: readonly TraceClass[];
}

export interface PoissonOptions extends CommonOptions {
  /** req/s */
  readonly rate: number;
}

export interface BurstyOptions extends CommonOptions {
  /** req/s of the evenly spaced base stream (CV² 0); 0 = none */
  readonly baseRate: number;
  /** req/s of the Gamma stream */
  readonly burstRate: number;
  /** CV² of the Gamma stream's inter-arrival times */
  readonly cv2: number;
}

export interface TimeVaryingOptions extends CommonOptions {
  /** starting rate, req/s */
  readonly rate1: number;
  /** final rate, req/s (may be below rate1: the ramp then goes down) */
  readonly rate2: number;
  /** ramp slope, req/s² */
  readonly tau: number;
  /** CV² of the Gamma inter-arrival times */
  readonly cv2: number;
}

export interface OnOffOptions extends CommonOptions {
  /** req/s of the quiet phases (Poisson) */
  readonly lowRate: number;
  /** length of each quiet phase, seconds */
  readonly lowS: number;
  /** req/s of the burst phases (Poisson) */
  readonly highRate: number;
  /** length of each burst phase, seconds */
  readonly highS: number;
}

export interface MafOptions extends CommonOptions {
  /** invocation counts per source minute (loadMafCounts); the whole list is compressed into durationS */
  readonly counts: readonly number[];
  /** mean rate of the output, req/s */
  readonly meanRate: number;
}

/** Refuse traces that would not fit in memory as request objects (about 100 bytes each). */
export const MAX_TRACE_REQUESTS = 20_000_000;

function bad(what: string): SlackserveError {
  return new SlackserveError('TRACE_INVALID', what);
}

function requireNumber(gen: string, name: string, v: number, ok: (v: number) => boolean, rule: string): void {
  if (typeof v !== 'number' || !Number.isFinite(v) || !ok(v)) throw bad(`${gen}: ${name} must be ${rule}, got ${String(v)}`);
}

const positive = (v: number) => v > 0;
const nonNegative = (v: number) => v >= 0;

function checkCommon(gen: string, o: CommonOptions, expectedCount: number): void {
  requireNumber(gen, 'durationS', o.durationS, positive, 'a number of seconds > 0');
  requireNumber(gen, 'seed', o.seed, Number.isSafeInteger, 'an integer');
  if (o.classes === undefined || o.classes.length === 0) {
    if (o.sloMs === undefined) throw bad(`${gen}: give sloMs or classes`);
    requireNumber(gen, 'sloMs', o.sloMs, positive, 'a number of ms > 0');
  }
  if (o.minAccuracy !== undefined) requireNumber(gen, 'minAccuracy', o.minAccuracy, (v) => v >= 0 && v <= 1, 'in 0..1');
  const names = new Set<string>();
  for (const c of o.classes ?? []) {
    if (!c.name || !isValidClassName(c.name)) throw bad(`${gen}: class name "${c.name}" may only contain letters, digits, '_', '.' and '-'`);
    if (names.has(c.name)) throw bad(`${gen}: class "${c.name}" is listed twice`);
    names.add(c.name);
    requireNumber(gen, `class ${c.name} share`, c.share, positive, '> 0');
    requireNumber(gen, `class ${c.name} sloMs`, c.sloMs, positive, 'a number of ms > 0');
    if (c.minAccuracy !== undefined) requireNumber(gen, `class ${c.name} minAccuracy`, c.minAccuracy, (v) => v >= 0 && v <= 1, 'in 0..1');
    if (c.priority !== undefined) requireNumber(gen, `class ${c.name} priority`, c.priority, (v) => Number.isSafeInteger(v) && v >= 0, 'an integer >= 0');
  }
  if (expectedCount > MAX_TRACE_REQUESTS)
    throw bad(`${gen}: about ${Math.round(expectedCount)} requests expected, more than the ${MAX_TRACE_REQUESTS} a trace may hold; shorten it or lower the rate`);
}

const roundUs = (tMs: number) => Math.round(tMs * 1000) / 1000;

/**
 * Labels arrival times (ms, sorted) with SLO, accuracy floor, priority and class. Exported for
 * generators elsewhere (replaying measured arrivals with this module's class mix).
 */
export function labelArrivals(timesMs: ArrayLike<number>, o: CommonOptions): TraceRequest[] {
  const n = timesMs.length;
  const out = new Array<TraceRequest>(n);
  const classes = o.classes ?? [];
  if (classes.length === 0) {
    const slo = o.sloMs as number;
    for (let i = 0; i < n; i++) {
      const t = roundUs(timesMs[i] as number);
      out[i] = o.minAccuracy === undefined ? { t_ms: t, slo_ms: slo, priority: 0, class: DEFAULT_CLASS } : { t_ms: t, slo_ms: slo, min_accuracy: o.minAccuracy, priority: 0, class: DEFAULT_CLASS };
    }
    return out;
  }
  const cum = new Float64Array(classes.length);
  let total = 0;
  for (let c = 0; c < classes.length; c++) cum[c] = total += (classes[c] as TraceClass).share;
  const rng = new Rng(o.seed, 1);
  for (let i = 0; i < n; i++) {
    const c = classes[rng.pick(cum)] as TraceClass;
    const minAcc = c.minAccuracy ?? o.minAccuracy;
    const t = roundUs(timesMs[i] as number);
    const priority = c.priority ?? 0;
    out[i] = minAcc === undefined ? { t_ms: t, slo_ms: c.sloMs, priority, class: c.name } : { t_ms: t, slo_ms: c.sloMs, min_accuracy: minAcc, priority, class: c.name };
  }
  return out;
}

/** Arrival times (ms) of a Gamma renewal process with CV² cv2 and rate(t) req/s, on [0, durationMs). */
function gammaArrivals(rng: Rng, durationMs: number, cv2: number, rateAt: (tS: number) => number): number[] {
  const shape = 1 / cv2;
  const out: number[] = [];
  let tS = 0;
  const endS = durationMs / 1000;
  for (;;) {
    // scale cv2/rate gives mean gap 1/rate: the rate in force when the gap starts
    tS += rng.gamma(shape, cv2 / rateAt(tS));
    if (tS >= endS) return out;
    out.push(tS * 1000);
  }
}

/** Poisson process: exponential inter-arrival times with mean 1/rate. */
export function poisson(o: PoissonOptions): TraceRequest[] {
  requireNumber('poisson', 'rate', o.rate, positive, 'a rate in req/s > 0');
  checkCommon('poisson', o, o.rate * o.durationS);
  const rng = new Rng(o.seed);
  const durMs = o.durationS * 1000;
  const perMs = o.rate / 1000;
  const times: number[] = [];
  for (let t = rng.exponential(perMs); t < durMs; t += rng.exponential(perMs)) times.push(t);
  return labelArrivals(times, o);
}

/**
 * SuperServe's bursty trace: an evenly spaced base stream at baseRate (CV² 0, first request at
 * t = 0) merged with a stream whose inter-arrival times are Gamma(shape 1/cv2, scale
 * cv2/burstRate) seconds, i.e. mean 1/burstRate and CV² cv2. Total rate baseRate + burstRate.
 */
export function bursty(o: BurstyOptions): TraceRequest[] {
  requireNumber('bursty', 'baseRate', o.baseRate, nonNegative, 'a rate in req/s >= 0');
  requireNumber('bursty', 'burstRate', o.burstRate, positive, 'a rate in req/s > 0');
  requireNumber('bursty', 'cv2', o.cv2, positive, '> 0');
  checkCommon('bursty', o, (o.baseRate + o.burstRate) * o.durationS);
  const durMs = o.durationS * 1000;
  const burst = gammaArrivals(new Rng(o.seed), durMs, o.cv2, () => o.burstRate);
  const nBase = o.baseRate > 0 ? Math.ceil((durMs * o.baseRate) / 1000) : 0;
  // merge the two sorted streams
  const times = new Float64Array(nBase + burst.length);
  let i = 0;
  let j = 0;
  let k = 0;
  const baseAt = (n: number) => (n * 1000) / o.baseRate;
  while (i < nBase || j < burst.length) {
    if (j >= burst.length || (i < nBase && baseAt(i) <= (burst[j] as number))) times[k++] = baseAt(i++);
    else times[k++] = burst[j++] as number;
  }
  return labelArrivals(times, o);
}

/**
 * Square-wave load: Poisson arrivals at lowRate for lowS seconds, then at highRate for highS
 * seconds, repeated (quiet phase first) until durationS. The shape that separates choosing a
 * subnet per batch from serving a fixed one: bursts at one subnet's capacity, lulls that a slower,
 * more accurate subnet carries (docs/scheduling.md, "Bursts at a static subnet's capacity").
 */
export function onOff(o: OnOffOptions): TraceRequest[] {
  requireNumber('on-off', 'lowRate', o.lowRate, nonNegative, 'a rate in req/s >= 0');
  requireNumber('on-off', 'lowS', o.lowS, positive, 'a number of seconds > 0');
  requireNumber('on-off', 'highRate', o.highRate, positive, 'a rate in req/s > 0');
  requireNumber('on-off', 'highS', o.highS, positive, 'a number of seconds > 0');
  checkCommon('on-off', o, Math.max(o.lowRate, o.highRate) * o.durationS);
  const rng = new Rng(o.seed);
  const durMs = o.durationS * 1000;
  const times: number[] = [];
  for (let start = 0, high = false; start < durMs; high = !high) {
    const rate = high ? o.highRate : o.lowRate;
    const end = Math.min(durMs, start + (high ? o.highS : o.lowS) * 1000);
    // memoryless: a phase's first arrival is drawn from its own start, at its own rate
    if (rate > 0) for (let t = start + rng.exponential(rate / 1000); t < end; t += rng.exponential(rate / 1000)) times.push(t);
    start = end;
  }
  return labelArrivals(times, o);
}

/**
 * SuperServe's time-varying trace: Gamma inter-arrival times with CV² cv2 whose rate ramps
 * linearly from rate1 to rate2 at tau req/s² and then stays at rate2. Each gap is drawn with the
 * rate in force at the moment it starts.
 */
export function timeVarying(o: TimeVaryingOptions): TraceRequest[] {
  requireNumber('time-varying', 'rate1', o.rate1, positive, 'a rate in req/s > 0');
  requireNumber('time-varying', 'rate2', o.rate2, positive, 'a rate in req/s > 0');
  requireNumber('time-varying', 'tau', o.tau, positive, 'a slope in req/s² > 0');
  requireNumber('time-varying', 'cv2', o.cv2, positive, '> 0');
  checkCommon('time-varying', o, Math.max(o.rate1, o.rate2) * o.durationS);
  const up = o.rate2 >= o.rate1;
  const rateAt = up ? (t: number) => Math.min(o.rate1 + o.tau * t, o.rate2) : (t: number) => Math.max(o.rate1 - o.tau * t, o.rate2);
  return labelArrivals(gammaArrivals(new Rng(o.seed), o.durationS * 1000, o.cv2, rateAt), o);
}

/**
 * MAF replay (Clockwork / SuperServe): the counts.length source minutes are compressed into
 * durationS seconds, keeping their shape; the rates are scaled so the mean is meanRate req/s.
 * Compressed minute i lasts L = durationS / counts.length seconds and gets N_i ~ Poisson(r_i L)
 * arrivals at uniform positions, r_i = meanRate * counts[i] / mean(counts): a Poisson process at
 * that minute's rate.
 */
export function maf(o: MafOptions): TraceRequest[] {
  requireNumber('maf', 'meanRate', o.meanRate, positive, 'a rate in req/s > 0');
  const m = o.counts.length;
  if (m === 0) throw bad('maf: counts is empty');
  let sum = 0;
  for (const c of o.counts) {
    requireNumber('maf', 'every count', c, nonNegative, 'a number >= 0');
    sum += c;
  }
  if (sum <= 0) throw bad('maf: counts are all zero');
  checkCommon('maf', o, o.meanRate * o.durationS);
  const rng = new Rng(o.seed);
  const lenMs = (o.durationS * 1000) / m;
  const scale = (o.meanRate * m) / sum; // req/s per source count
  const ns = o.counts.map((c) => rng.poisson((scale * c * lenMs) / 1000));
  const times = new Float64Array(ns.reduce((a, b) => a + b, 0));
  let k = 0;
  for (let i = 0; i < m; i++) {
    const start = k;
    const n = ns[i] as number;
    for (let j = 0; j < n; j++) times[k++] = (i + rng.uniform()) * lenMs;
    times.subarray(start, k).sort();
  }
  return labelArrivals(times, o);
}

/** Which functions of a MAF file to sum: all, the top N by total invocations, or these hashes. */
export type MafFunctions = 'all' | number | readonly string[];

/**
 * Per-minute invocation counts summed over the chosen functions of an Azure Functions 2019
 * per-minute file. Both layouts in shared/traces are read: invitro's
 * `HashFunction,HashOwner,HashApp,1_minute..1440_minute` and dirigent's
 * `HashOwner,HashApp,HashFunction,Trigger,480..959`. Minute columns are the numeric (or
 * `N_minute`) ones and must be consecutive; HashFunction names a function.
 */
export function parseMafCounts(text: string, source: string, opts: { functions?: MafFunctions } = {}): number[] {
  const lines = text.split('\n');
  const header = (lines[0] ?? '').replace(/\r$/, '').split(',').map((h) => h.trim());
  const idCol = header.indexOf('HashFunction');
  const minuteCols: number[] = [];
  const minuteNums: number[] = [];
  header.forEach((h, i) => {
    const mm = /^(\d+)(_minute)?$/.exec(h);
    if (mm) {
      minuteCols.push(i);
      minuteNums.push(Number(mm[1]));
    }
  });
  if (idCol < 0 || minuteCols.length === 0)
    throw bad(`${source} line 1: not an Azure Functions 2019 per-minute file (expected a HashFunction column and minute columns "1_minute".. or "480"..)`);
  for (let i = 1; i < minuteNums.length; i++)
    if (minuteNums[i] !== (minuteNums[i - 1] as number) + 1) throw bad(`${source} line 1: minute columns are not consecutive ("${header[minuteCols[i] as number]}" follows "${header[minuteCols[i - 1] as number]}")`);

  const sel = opts.functions ?? 'all';
  if (typeof sel === 'number' && (!Number.isSafeInteger(sel) || sel < 1)) throw bad(`${source}: functions must be 'all', a count >= 1 or a list of hashes, got ${sel}`);
  const wanted = Array.isArray(sel) ? new Set<string>(sel as readonly string[]) : undefined;
  const found = new Set<string>();
  const m = minuteCols.length;
  const total = new Float64Array(m);
  const rows: { volume: number; counts: Float64Array }[] = []; // kept only for top-N

  for (let li = 1; li < lines.length; li++) {
    let line = lines[li] as string;
    if (line.endsWith('\r')) line = line.slice(0, -1);
    if (line.trim() === '') continue;
    const f = line.split(',');
    if (f.length !== header.length) throw bad(`${source} line ${li + 1}: expected ${header.length} fields, got ${f.length}`);
    const id = (f[idCol] as string).trim();
    if (wanted && !wanted.has(id)) continue;
    found.add(id);
    const counts = typeof sel === 'number' ? new Float64Array(m) : total;
    let volume = 0;
    for (let c = 0; c < m; c++) {
      const raw = f[minuteCols[c] as number] as string;
      const v = Number(raw);
      if (!Number.isInteger(v) || v < 0 || raw.trim() === '') throw bad(`${source} line ${li + 1}: count "${raw}" in column ${header[minuteCols[c] as number]} is not an integer >= 0`);
      counts[c] = (counts[c] as number) + v;
      volume += v;
    }
    if (typeof sel === 'number') rows.push({ volume, counts });
  }

  if (wanted) {
    const missing = [...wanted].filter((h) => !found.has(h));
    if (missing.length > 0) throw bad(`${source}: no function with hash ${missing.slice(0, 3).join(', ')}${missing.length > 3 ? ` (and ${missing.length - 3} more)` : ''}`);
  }
  if (typeof sel === 'number') {
    if (sel > rows.length) throw bad(`${source}: asked for the top ${sel} functions, the file has ${rows.length}`);
    // stable sort: equal volumes keep file order, so the choice is deterministic
    const top = rows.map((r, i) => ({ ...r, i })).sort((a, b) => b.volume - a.volume || a.i - b.i).slice(0, sel);
    for (const r of top) for (let c = 0; c < m; c++) total[c] = (total[c] as number) + (r.counts[c] as number);
  }
  return Array.from(total);
}

/** Reads an Azure Functions 2019 per-minute file (gzip allowed) and sums the chosen functions. */
export async function loadMafCounts(path: string, opts: { functions?: MafFunctions } = {}): Promise<number[]> {
  return parseMafCounts(await readTextFile(path), path, opts);
}
