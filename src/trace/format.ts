/**
 * The trace file format (spec: traces/README.md): CSV with a header line, one request per row.
 *
 *   t_ms          arrival offset from the trace start, ms; float >= 0, non-decreasing   (required)
 *   slo_ms        latency budget, ms; float > 0                                           (required)
 *   min_accuracy  lowest acceptable accuracy, 0..1; empty = none                          (optional)
 *   priority      integer >= 0, empty = 0; Triton's meaning: 0 default, 1 highest         (optional)
 *   class         label matching [A-Za-z0-9_.-]*, empty = 'default'                       (optional)
 *
 * Columns may come in any order; an unknown column is an error (a typo must not silently drop a
 * field). Blank lines and lines starting with '#' are skipped. Fields are plain: no quoting, since
 * no field can contain a comma.
 *
 * Parsing is on the simulator's path for million-row traces, so it splits on '\n' and ',' and
 * converts with Number(); the only regexes run once per distinct class label or priority string.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { gunzipSync, gzipSync } from 'node:zlib';
import { SlackserveError } from '../errors.js';

export interface TraceRequest {
  readonly t_ms: number;
  readonly slo_ms: number;
  readonly min_accuracy?: number;
  readonly priority: number;
  readonly class: string;
}

/** Columnar form for the simulator: no per-request objects, cache-friendly scans. */
export interface TraceColumns {
  t_ms: Float64Array;
  slo_ms: Float64Array;
  /** NaN = no accuracy floor */
  min_accuracy: Float64Array;
  priority: Int32Array;
  /** index into `classes` */
  classId: Int32Array;
  /** class labels in order of first appearance */
  classes: string[];
}

export const TRACE_COLUMNS = ['t_ms', 'slo_ms', 'min_accuracy', 'priority', 'class'] as const;
export type TraceColumn = (typeof TRACE_COLUMNS)[number];
export const DEFAULT_CLASS = 'default';
const CLASS_RE = /^[A-Za-z0-9_.-]*$/;

function invalid(source: string, line: number, what: string): SlackserveError {
  return new SlackserveError('TRACE_INVALID', `${source} line ${line}: ${what}`, { source, line });
}

/** Checks a class label (generators and the CLI use it too, so all labels obey one rule). */
export function isValidClassName(name: string): boolean {
  return CLASS_RE.test(name);
}

export function parseTrace(text: string, source = '<trace>'): TraceRequest[] {
  const lines = text.split('\n');
  const out: TraceRequest[] = [];
  // column index of each known field, -1 = absent
  let iT = -1;
  let iSlo = -1;
  let iAcc = -1;
  let iPri = -1;
  let iCls = -1;
  let nCols = 0;
  let headerSeen = false;
  let prevT = 0;
  // raw field -> value, validated once per distinct string (there are few of each)
  const classOk = new Map<string, string>();
  const priOk = new Map<string, number>();

  for (let li = 0; li < lines.length; li++) {
    let line = lines[li] as string;
    if (line.length > 0 && line.charCodeAt(line.length - 1) === 13) line = line.slice(0, -1); // CRLF
    if (line.length === 0 || line.charCodeAt(0) === 35 /* # */) continue;
    const lineNo = li + 1;
    const f = line.split(',');

    if (!headerSeen) {
      if (line.trim() === '') continue;
      headerSeen = true;
      nCols = f.length;
      const seen = new Set<string>();
      for (let c = 0; c < f.length; c++) {
        const name = (f[c] as string).trim();
        if (seen.has(name)) throw invalid(source, lineNo, `duplicate column "${name}" in the header`);
        seen.add(name);
        switch (name) {
          case 't_ms': iT = c; break;
          case 'slo_ms': iSlo = c; break;
          case 'min_accuracy': iAcc = c; break;
          case 'priority': iPri = c; break;
          case 'class': iCls = c; break;
          default:
            throw invalid(source, lineNo, `unknown column "${name}" in the header (known: ${TRACE_COLUMNS.join(', ')})`);
        }
      }
      if (iT < 0) throw invalid(source, lineNo, 'the header has no t_ms column');
      if (iSlo < 0) throw invalid(source, lineNo, 'the header has no slo_ms column');
      continue;
    }

    if (f.length !== nCols) {
      if (line.trim() === '') continue; // whitespace-only line
      throw invalid(source, lineNo, `expected ${nCols} fields, got ${f.length}`);
    }

    const tRaw = f[iT] as string;
    // Number('') and Number(' ') are 0: only a 0 needs the (rarer) emptiness check
    const t = Number(tRaw);
    if (!(t >= 0) || t === Infinity || (t === 0 && tRaw.trim() === '')) throw invalid(source, lineNo, `t_ms "${tRaw}" is not a number >= 0`);
    if (t < prevT) throw invalid(source, lineNo, `t_ms ${tRaw} is before the previous row's ${prevT} (t_ms must not decrease)`);
    prevT = t;

    const sRaw = f[iSlo] as string;
    const slo = Number(sRaw); // '' -> 0, rejected below
    if (!(slo > 0) || slo === Infinity) throw invalid(source, lineNo, `slo_ms "${sRaw}" is not a positive number`);

    let acc: number | undefined;
    if (iAcc >= 0) {
      const aRaw = f[iAcc] as string;
      if (aRaw.length > 0 && aRaw.trim().length > 0) {
        acc = Number(aRaw);
        if (!(acc >= 0 && acc <= 1)) throw invalid(source, lineNo, `min_accuracy "${aRaw}" is not a number in 0..1`);
      }
    }

    let pri = 0;
    if (iPri >= 0) {
      const pRaw = f[iPri] as string;
      const known = priOk.get(pRaw);
      if (known !== undefined) pri = known;
      else {
        const p = pRaw.trim();
        // digits only: Number() would also take '1e0', '0x1' and '1.0'
        pri = p === '' ? 0 : /^[0-9]+$/.test(p) ? Number(p) : NaN;
        if (!Number.isSafeInteger(pri)) throw invalid(source, lineNo, `priority "${pRaw}" is not an integer >= 0`);
        priOk.set(pRaw, pri);
      }
    }

    let cls = DEFAULT_CLASS;
    if (iCls >= 0) {
      const cRaw = f[iCls] as string;
      const known = classOk.get(cRaw);
      if (known !== undefined) cls = known;
      else {
        const name = cRaw.trim();
        if (!CLASS_RE.test(name)) throw invalid(source, lineNo, `class "${cRaw}" may only contain letters, digits, '_', '.' and '-'`);
        cls = name === '' ? DEFAULT_CLASS : name;
        classOk.set(cRaw, cls);
      }
    }

    out.push(acc === undefined ? { t_ms: t, slo_ms: slo, priority: pri, class: cls } : { t_ms: t, slo_ms: slo, min_accuracy: acc, priority: pri, class: cls });
  }
  if (!headerSeen) throw new SlackserveError('TRACE_INVALID', `${source}: no header line (expected e.g. "t_ms,slo_ms")`, { source });
  return out;
}

/** True when the bytes start with the gzip magic number (so a renamed .gz still reads). */
function isGzip(buf: Uint8Array): boolean {
  return buf.length >= 2 && buf[0] === 0x1f && buf[1] === 0x8b;
}

/** Reads a trace file; gzip is detected from the content, so `.csv.gz` works. */
export async function readTraceFile(path: string): Promise<TraceRequest[]> {
  return parseTrace(await readTextFile(path), path);
}

/** Reads a text file, gunzipping when it is gzip; a missing file is TRACE_INVALID. */
export async function readTextFile(path: string): Promise<string> {
  let buf: Buffer;
  try {
    buf = await readFile(path);
  } catch (err) {
    throw new SlackserveError('TRACE_INVALID', `${path}: cannot read (${(err as Error).message})`, { source: path }, { cause: err });
  }
  if (!isGzip(buf)) return buf.toString('utf8');
  try {
    return gunzipSync(buf).toString('utf8');
  } catch (err) {
    throw new SlackserveError('TRACE_INVALID', `${path}: corrupt gzip data (${(err as Error).message})`, { source: path }, { cause: err });
  }
}

/**
 * Writes requests as trace CSV. Optional columns that hold only defaults are left out, so a
 * plain trace is just `t_ms,slo_ms`. Numbers are written with String(), the shortest text that
 * reads back as the same double, so parseTrace(formatTrace(r)) equals r exactly. `comments`
 * become leading '#' lines (generators record their parameters there).
 */
export function formatTrace(reqs: readonly TraceRequest[], comments: readonly string[] = []): string {
  let hasAcc = false;
  let hasPri = false;
  let hasCls = false;
  for (const r of reqs) {
    if (r.min_accuracy !== undefined) hasAcc = true;
    if (r.priority !== 0) hasPri = true;
    if (r.class !== DEFAULT_CLASS) hasCls = true;
  }
  const header = ['t_ms', 'slo_ms'];
  if (hasAcc) header.push('min_accuracy');
  if (hasPri) header.push('priority');
  if (hasCls) header.push('class');
  const parts: string[] = comments.map((c) => `# ${c.replace(/\n/g, ' ')}`);
  parts.push(header.join(','));
  for (const r of reqs) {
    let row = `${r.t_ms},${r.slo_ms}`;
    if (hasAcc) row += r.min_accuracy === undefined ? ',' : `,${r.min_accuracy}`;
    if (hasPri) row += `,${r.priority}`;
    if (hasCls) row += `,${r.class === DEFAULT_CLASS ? '' : r.class}`;
    parts.push(row);
  }
  return parts.join('\n') + '\n';
}

/** Writes a trace file, gzip-compressed when the path ends in `.gz`. */
export async function writeTraceFile(path: string, reqs: readonly TraceRequest[], comments: readonly string[] = []): Promise<void> {
  const text = formatTrace(reqs, comments);
  await writeFile(path, path.endsWith('.gz') ? gzipSync(text, { level: 9 }) : text);
}

export function toColumns(reqs: readonly TraceRequest[]): TraceColumns {
  const n = reqs.length;
  const cols: TraceColumns = {
    t_ms: new Float64Array(n),
    slo_ms: new Float64Array(n),
    min_accuracy: new Float64Array(n),
    priority: new Int32Array(n),
    classId: new Int32Array(n),
    classes: [],
  };
  const ids = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const r = reqs[i] as TraceRequest;
    cols.t_ms[i] = r.t_ms;
    cols.slo_ms[i] = r.slo_ms;
    cols.min_accuracy[i] = r.min_accuracy ?? NaN;
    cols.priority[i] = r.priority;
    let id = ids.get(r.class);
    if (id === undefined) {
      id = cols.classes.length;
      ids.set(r.class, id);
      cols.classes.push(r.class);
    }
    cols.classId[i] = id;
  }
  return cols;
}
