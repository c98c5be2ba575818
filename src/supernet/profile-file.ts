/**
 * The profile JSON (`slackserve-profile/1`) written by `slackserve profile` and read by the
 * scheduler and the simulator: measured latency per served subnet and batch size on one machine.
 * Reading it validates everything the consumers index, so a bad file fails here with its path.
 */
import { readFileSync } from 'node:fs';
import { SlackserveError } from '../errors.js';
import type { LatencyStats } from './manifest-types.js';

export const PROFILE_FORMAT = 'slackserve-profile/1';

export interface SubnetProfile {
  readonly id: string;
  readonly top1: number | null;
  readonly macs: number;
  /** batch size (as a string key) -> whole-graph latency through the executor, ms */
  readonly whole: Readonly<Record<string, LatencyStats>>;
  /** batch size -> staged (stage chain + head) latency through the executor, ms */
  readonly staged: Readonly<Record<string, LatencyStats>>;
  /** batch size -> p50 ms of each stage graph (block + its ramp), in chain order, then the head */
  readonly stages: Readonly<Record<string, readonly { readonly stage: string; readonly p50: number }[]>>;
}

export interface Profile {
  readonly format: typeof PROFILE_FORMAT;
  readonly supernet: string;
  readonly date: string;
  readonly machine: string;
  readonly onnxruntime: string;
  readonly settings: {
    readonly threads: number;
    readonly intraOpThreads: number;
    readonly executionProvider: string;
    readonly spinning: boolean;
    readonly encoding: string;
  };
  readonly repeats: number;
  readonly batch_sizes: readonly number[];
  readonly subnets: readonly SubnetProfile[];
  /** subnet id -> time to load its static graph as a separate model and run it once (INFaaS-style switch cost), ms */
  readonly variant_load_ms?: Readonly<Record<string, LatencyStats>>;
}


const bad = (file: string, msg: string): SlackserveError => new SlackserveError('PROFILE_INVALID', `${file}: ${msg}`, { file });

function checkStats(file: string, where: string, v: unknown): void {
  const o = v as Partial<LatencyStats> | undefined;
  if (typeof o !== 'object' || o === null || !(Number(o.p50) > 0) || !(Number(o.p95) > 0) || Number(o.p95) < Number(o.p50))
    throw bad(file, `${where} must be {p50, p95} with 0 < p50 <= p95`);
}

/** Parses and validates a profile object (from a file or already parsed). */
export function parseProfile(raw: unknown, file = '<profile>'): Profile {
  const p = raw as Partial<Profile>;
  if (typeof p !== 'object' || p === null || p.format !== PROFILE_FORMAT) throw bad(file, `format must be "${PROFILE_FORMAT}"`);
  if (!Array.isArray(p.batch_sizes) || p.batch_sizes.length === 0 || p.batch_sizes.some((b, i, a) => !Number.isInteger(b) || b < 1 || (i > 0 && b <= (a[i - 1] as number))))
    throw bad(file, 'batch_sizes must be a non-empty increasing list of positive integers');
  if (!Array.isArray(p.subnets) || p.subnets.length === 0) throw bad(file, 'subnets must be a non-empty list');
  p.subnets.forEach((s, i) => {
    if (typeof s.id !== 'string' || s.id === '') throw bad(file, `subnets[${i}].id must be a non-empty string`);
    for (const b of p.batch_sizes as number[]) {
      checkStats(file, `subnets[${i}].whole["${b}"]`, s.whole?.[b]);
      checkStats(file, `subnets[${i}].staged["${b}"]`, s.staged?.[b]);
    }
  });
  for (const [id, v] of Object.entries(p.variant_load_ms ?? {})) checkStats(file, `variant_load_ms["${id}"]`, v);
  return p as Profile;
}

export function loadProfile(file: string): Profile {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new SlackserveError('PROFILE_INVALID', `cannot read profile ${file}: ${(err as Error).message}`, { file }, { cause: err });
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw bad(file, `not JSON: ${(err as Error).message}`);
  }
  return parseProfile(raw, file);
}
