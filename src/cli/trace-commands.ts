/** `slackserve trace ...`: summarise trace files and generate seeded ones (format: traces/README.md). */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { SlackserveError } from '../errors.js';
import { readTraceFile, writeTraceFile, type TraceRequest } from '../trace/format.js';
import { bursty, loadMafCounts, maf, onOff, poisson, timeVarying, type CommonOptions, type MafFunctions, type TraceClass } from '../trace/generators.js';
import { formatTraceStats, traceStats } from '../trace/stats.js';

/** The bundled Azure Functions 2019 sample (1,350 functions, 1,440 minutes); src/cli and dist/cli both sit two levels down. */
export const DEFAULT_MAF_FILE = fileURLToPath(new URL('../../traces/azure_functions_2019/1350_inv.csv', import.meta.url));
const DEFAULT_SLO_MS = 50;
const KINDS = ['poisson', 'bursty', 'time-varying', 'on-off', 'maf'] as const;
type Kind = (typeof KINDS)[number];

interface GenerateFlags {
  out: string;
  duration: string;
  seed: string;
  sloMs?: string;
  minAccuracy?: string;
  classes?: string;
  rate?: string;
  baseRate?: string;
  burstRate?: string;
  cv2?: string;
  rate1?: string;
  rate2?: string;
  tau?: string;
  lowRate?: string;
  lowS?: string;
  highRate?: string;
  highS?: string;
  maf?: string;
  functions?: string;
  meanRate?: string;
}

/** The generator-specific flags: which kinds take each, by commander's camelCase key. */
const KIND_FLAGS: Record<string, { flag: string; kinds: readonly Kind[] }> = {
  rate: { flag: '--rate', kinds: ['poisson'] },
  baseRate: { flag: '--base-rate', kinds: ['bursty'] },
  burstRate: { flag: '--burst-rate', kinds: ['bursty'] },
  cv2: { flag: '--cv2', kinds: ['bursty', 'time-varying'] },
  rate1: { flag: '--rate1', kinds: ['time-varying'] },
  rate2: { flag: '--rate2', kinds: ['time-varying'] },
  tau: { flag: '--tau', kinds: ['time-varying'] },
  lowRate: { flag: '--low-rate', kinds: ['on-off'] },
  lowS: { flag: '--low-s', kinds: ['on-off'] },
  highRate: { flag: '--high-rate', kinds: ['on-off'] },
  highS: { flag: '--high-s', kinds: ['on-off'] },
  maf: { flag: '--maf', kinds: ['maf'] },
  functions: { flag: '--functions', kinds: ['maf'] },
  meanRate: { flag: '--mean-rate', kinds: ['maf'] },
};

function bad(msg: string): SlackserveError {
  return new SlackserveError('TRACE_INVALID', msg);
}

/** Parses a flag's number and checks its range; every failure names the flag. */
function numberFlag(flag: string, raw: string | undefined, rule: 'positive' | 'non-negative' | 'integer' | 'fraction'): number {
  if (raw === undefined) throw bad(`${flag} is required here`);
  const v = raw.trim() === '' ? NaN : Number(raw);
  const ok =
    Number.isFinite(v) &&
    (rule === 'positive' ? v > 0 : rule === 'non-negative' ? v >= 0 : rule === 'integer' ? Number.isSafeInteger(v) : v >= 0 && v <= 1);
  const want = { positive: 'a number > 0', 'non-negative': 'a number >= 0', integer: 'an integer', fraction: 'a number in 0..1' }[rule];
  if (!ok) throw bad(`${flag} "${raw}" is not ${want}`);
  return v;
}

/** `--classes gold:0.2:20:0.9:1,bulk:0.8:100` = name:share:slo_ms[:min_accuracy[:priority]], comma-separated. */
export function parseClasses(spec: string): TraceClass[] {
  return spec.split(',').map((part) => {
    const f = part.trim().split(':');
    if (f.length < 3 || f.length > 5) throw bad(`--classes entry "${part}" is not name:share:slo_ms[:min_accuracy[:priority]]`);
    const [name, share, slo, acc, pri] = f as [string, string, string, string?, string?];
    const c: TraceClass = {
      name,
      share: numberFlag(`--classes ${name} share`, share, 'positive'),
      sloMs: numberFlag(`--classes ${name} slo_ms`, slo, 'positive'),
      ...(acc ? { minAccuracy: numberFlag(`--classes ${name} min_accuracy`, acc, 'fraction') } : {}),
      ...(pri ? { priority: numberFlag(`--classes ${name} priority`, pri, 'integer') } : {}),
    };
    return c;
  });
}

function parseFunctions(raw: string | undefined): MafFunctions {
  if (raw === undefined || raw === 'all') return 'all';
  if (/^\d+$/.test(raw)) {
    const n = Number(raw);
    if (n < 1) throw bad(`--functions "${raw}": the top-N count must be >= 1`);
    return n;
  }
  const hashes = raw.split(',').map((h) => h.trim());
  if (hashes.some((h) => !/^[0-9a-fA-F]+$/.test(h))) throw bad(`--functions "${raw}" is not 'all', a count or a comma-separated list of function hashes`);
  return hashes;
}

/** Runs the chosen generator from the flags; returns the trace and a provenance line for the file. */
export async function generateFromFlags(kind: string, o: GenerateFlags): Promise<{ reqs: TraceRequest[]; provenance: string }> {
  if (!(KINDS as readonly string[]).includes(kind)) throw bad(`unknown generator "${kind}" (expected one of ${KINDS.join(', ')})`);
  const k = kind as Kind;
  for (const [key, { flag, kinds }] of Object.entries(KIND_FLAGS))
    if (o[key as keyof GenerateFlags] !== undefined && !kinds.includes(k)) throw bad(`${flag} does not apply to the ${k} generator`);
  if (o.classes !== undefined && o.sloMs !== undefined) throw bad('give --slo-ms or --classes, not both (each class has its own SLO)');

  const common: CommonOptions = {
    durationS: numberFlag('--duration', o.duration, 'positive'),
    seed: numberFlag('--seed', o.seed, 'integer'),
    ...(o.classes !== undefined ? { classes: parseClasses(o.classes) } : { sloMs: o.sloMs === undefined ? DEFAULT_SLO_MS : numberFlag('--slo-ms', o.sloMs, 'positive') }),
    ...(o.minAccuracy !== undefined ? { minAccuracy: numberFlag('--min-accuracy', o.minAccuracy, 'fraction') } : {}),
  };
  const params: Record<string, unknown> = {
    duration_s: common.durationS,
    seed: common.seed,
    ...(common.sloMs !== undefined ? { slo_ms: common.sloMs } : { classes: o.classes }),
    ...(common.minAccuracy !== undefined ? { min_accuracy: common.minAccuracy } : {}),
  };
  let reqs: TraceRequest[];
  switch (k) {
    case 'poisson': {
      const rate = numberFlag('--rate', o.rate, 'positive');
      Object.assign(params, { rate });
      reqs = poisson({ ...common, rate });
      break;
    }
    case 'bursty': {
      const p = { baseRate: numberFlag('--base-rate', o.baseRate, 'non-negative'), burstRate: numberFlag('--burst-rate', o.burstRate, 'positive'), cv2: numberFlag('--cv2', o.cv2, 'positive') };
      Object.assign(params, { base_rate: p.baseRate, burst_rate: p.burstRate, cv2: p.cv2 });
      reqs = bursty({ ...common, ...p });
      break;
    }
    case 'time-varying': {
      const p = { rate1: numberFlag('--rate1', o.rate1, 'positive'), rate2: numberFlag('--rate2', o.rate2, 'positive'), tau: numberFlag('--tau', o.tau, 'positive'), cv2: numberFlag('--cv2', o.cv2, 'positive') };
      Object.assign(params, p);
      reqs = timeVarying({ ...common, ...p });
      break;
    }
    case 'on-off': {
      const p = {
        lowRate: numberFlag('--low-rate', o.lowRate, 'non-negative'),
        lowS: numberFlag('--low-s', o.lowS, 'positive'),
        highRate: numberFlag('--high-rate', o.highRate, 'positive'),
        highS: numberFlag('--high-s', o.highS, 'positive'),
      };
      Object.assign(params, { low_rate: p.lowRate, low_s: p.lowS, high_rate: p.highRate, high_s: p.highS });
      reqs = onOff({ ...common, ...p });
      break;
    }
    case 'maf': {
      const meanRate = numberFlag('--mean-rate', o.meanRate, 'positive');
      const file = o.maf ?? DEFAULT_MAF_FILE;
      if (o.maf === undefined && !existsSync(file)) throw bad(`the bundled MAF file ${file} is missing; pass --maf FILE`);
      const functions = parseFunctions(o.functions);
      const counts = await loadMafCounts(file, { functions });
      Object.assign(params, { mean_rate: meanRate, maf: o.maf ?? 'traces/azure_functions_2019/1350_inv.csv', functions: Array.isArray(functions) ? functions.join(' ') : functions, minutes: counts.length });
      reqs = maf({ ...common, counts, meanRate });
      break;
    }
  }
  const provenance = `slackserve trace generate ${k} ${Object.entries(params).map(([key, v]) => `${key}=${String(v)}`).join(' ')}`;
  return { reqs, provenance };
}

export function registerTraceCommands(program: Command): void {
  const tr = program.command('trace').description('request-arrival traces: summarise trace files and generate seeded ones (traces/README.md)');

  tr.command('stats')
    .description('count, rate, peak-to-mean, inter-arrival CV², SLO and class mix of a trace file (.csv or .csv.gz)')
    .argument('<file>', 'trace file')
    .option('--json', 'print the statistics as JSON')
    .action(async (file: string, opts: { json?: boolean }) => {
      const s = traceStats(await readTraceFile(file));
      console.log(opts.json ? JSON.stringify(s, null, 2) : formatTraceStats(s, file));
    });

  tr.command('generate')
    .description('write a seeded trace: poisson, bursty (SuperServe), time-varying (SuperServe), on-off (square-wave bursts) or maf (Azure Functions 2019 replay)')
    .argument('<kind>', KINDS.join(' | '))
    .requiredOption('--out <file>', 'trace file to write (gzip-compressed when it ends in .gz)')
    .option('--duration <s>', 'trace length, seconds', '60')
    .option('--seed <n>', 'random seed (integer)', '1')
    .option('--slo-ms <ms>', `SLO of every request (default ${DEFAULT_SLO_MS})`)
    .option('--min-accuracy <a>', 'accuracy floor 0..1 of every request (default none)')
    .option('--classes <spec>', 'request classes name:share:slo_ms[:min_accuracy[:priority]],... instead of --slo-ms')
    .option('--rate <r>', 'poisson: rate, req/s')
    .option('--base-rate <r>', 'bursty: rate of the evenly spaced base stream, req/s (0 = none)')
    .option('--burst-rate <r>', 'bursty: rate of the Gamma stream, req/s')
    .option('--cv2 <c>', 'bursty, time-varying: CV² of the Gamma inter-arrival times')
    .option('--rate1 <r>', 'time-varying: starting rate, req/s')
    .option('--rate2 <r>', 'time-varying: final rate, req/s')
    .option('--tau <t>', 'time-varying: ramp slope, req/s²')
    .option('--low-rate <r>', 'on-off: Poisson rate of the quiet phases, req/s (0 = silent)')
    .option('--low-s <s>', 'on-off: length of each quiet phase, seconds')
    .option('--high-rate <r>', 'on-off: Poisson rate of the burst phases, req/s')
    .option('--high-s <s>', 'on-off: length of each burst phase, seconds')
    .option('--maf <file>', 'maf: Azure Functions 2019 per-minute CSV (default: the bundled 1,350-function sample)')
    .option('--functions <sel>', "maf: 'all' (default), top-N by volume, or comma-separated HashFunction values")
    .option('--mean-rate <r>', 'maf: mean rate of the output, req/s')
    .action(async (kind: string, opts: GenerateFlags) => {
      const { reqs, provenance } = await generateFromFlags(kind, opts);
      await writeTraceFile(opts.out, reqs, [provenance]);
      console.log(`wrote ${opts.out}: ${reqs.length} requests`);
      console.log(formatTraceStats(traceStats(reqs)));
    });
}
