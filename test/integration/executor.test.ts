/**
 * The worker-thread executor: results equal the static graphs (1e-4) for random subnet/batch
 * sequences; staged mode yields one ramp per active stage in order; bad inputs are typed errors;
 * a killed thread fails only its in-flight batch and is replaced.
 */
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SlackserveError } from '../../src/errors.js';
import { Executor } from '../../src/runtime/executor.js';
import { SupernetGraphs } from '../../src/runtime/supernet-graphs.js';
import { Catalogue } from '../../src/supernet/catalogue.js';
import { loadSample, maxAbsDiff, rng, shuffle, SUPERNET_DIR } from '../helpers.js';

let cat: Catalogue;
let executor: Executor;
let reference: SupernetGraphs;
let pool: Float32Array;

beforeAll(async () => {
  cat = Catalogue.load(SUPERNET_DIR);
  executor = await Executor.start(SUPERNET_DIR, { threads: 2, intraOpThreads: 1, executionProvider: 'cpu', maxBatch: 64 });
  reference = await SupernetGraphs.open(cat);
  pool = loadSample(cat).x;
});
afterAll(async () => {
  await executor?.close();
  await reference?.close();
});

describe('executor', () => {
  it('matches the static graphs for a random subnet/batch/mode sequence, several batches in flight', async () => {
    const random = rng(11);
    const per = cat.sampleSize;
    const jobs = shuffle(
      cat.subnets.flatMap((s, i) => [{ id: s.id, batch: 1 + ((i * 13) % 64), mode: i % 2 ? ('staged' as const) : ('whole' as const) }]),
      random,
    );
    const results = await Promise.all(
      jobs.map(async (j) => {
        const start = Math.floor(random() * (pool.length / per - j.batch));
        const x = pool.slice(start * per, (start + j.batch) * per);
        const ref = await reference.runStatic(x, j.id);
        const got = await executor.run(x.slice(), j.id, { mode: j.mode });
        expect(got.batch).toBe(j.batch);
        return { ...j, diff: maxAbsDiff(ref, got.logits), len: got.logits.length === ref.length };
      }),
    );
    for (const r of results) {
      expect(r.len).toBe(true);
      expect(r.diff, `${r.id} batch ${r.batch} ${r.mode}`).toBeLessThanOrEqual(1e-4);
    }
  });

  it('staged mode yields one ramp result per active stage, in order, before the final answer', async () => {
    const s = cat.subnets[cat.subnets.length - 1]!;
    const seen: string[] = [];
    const r = await executor.run(pool.slice(0, 5 * cat.sampleSize), s.id, {
      mode: 'staged',
      onStage: (stage, logits) => {
        expect(logits.length).toBe(5 * cat.numClasses);
        seen.push(stage);
      },
    });
    expect(seen).toEqual(s.stages);
    expect(r.ramps.map((x) => x.stage)).toEqual(s.stages);
    const staticRamps = await reference.runStaged(pool.slice(0, 5 * cat.sampleSize), s.id);
    r.ramps.forEach((ramp, i) => expect(maxAbsDiff(ramp.logits, staticRamps.ramps[i]!.logits)).toBeLessThanOrEqual(1e-5));
  });

  it.each([
    ['wrong shape', () => new Float32Array(784 * 2 + 1), /not a whole number of samples of 784/],
    ['empty batch', () => new Float32Array(0), /empty batch/],
    ['batch above the maximum', () => new Float32Array(784 * 65), /batch of 65 exceeds the maximum batch size 64/],
    ['NaN', () => Object.assign(new Float32Array(784 * 3), { [784 + 5]: NaN }), /non-finite value NaN in sample 1 at element 5/],
    ['Infinity', () => Object.assign(new Float32Array(784), { 7: Infinity }), /non-finite value Infinity in sample 0/],
    ['wrong dtype', () => new Float64Array(784) as unknown as Float32Array, /expected FP32 image data \(Float32Array\), got Float64Array/],
  ])('rejects %s with INPUT_INVALID', async (_name, make, message) => {
    const err = await executor.run(make(), cat.subnets[0]!.id).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SlackserveError);
    expect((err as SlackserveError).code).toBe('INPUT_INVALID');
    expect((err as SlackserveError).message).toMatch(message);
  });

  it('accepts views into larger buffers and shared buffers without detaching the caller\'s memory', async () => {
    const id = cat.subnets[0]!.id;
    const big = pool.slice(0, 4 * cat.sampleSize);
    const view = big.subarray(cat.sampleSize, 3 * cat.sampleSize); // 2 samples inside a larger buffer
    const shared = new Float32Array(new SharedArrayBuffer(2 * cat.sampleSize * 4));
    shared.set(view);
    const [a, b] = await Promise.all([executor.run(view, id), executor.run(shared, id)]);
    expect(maxAbsDiff(a.logits, b.logits)).toBe(0);
    expect(big.length).toBe(4 * cat.sampleSize); // the caller's buffer was copied, not transferred
    expect(shared.length).toBe(2 * cat.sampleSize);
  });

  it('rejects an unknown subnet with SUBNET_UNKNOWN', async () => {
    await expect(executor.run(new Float32Array(784), 'r1_d000_w0-0-0')).rejects.toMatchObject({ code: 'SUBNET_UNKNOWN' });
  });

  // A worker thread that dies, or starts, while onnxruntime works in another thread aborted the
  // process in a share of runs (docs/runtime.md), inside vitest and in plain node alike. So this
  // test drives the built executor in a child process, injects a death with a batch in flight, and
  // sends more work only once the replacement is ready; it checks what the child reports.
  it('a thread that dies fails its in-flight batch with a clear error, is replaced, and serving continues', () => {
    const r = spawnSync(process.execPath, ['test/fixtures/executor-crash.mjs', SUPERNET_DIR], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout.trim().split('\n').pop()!) as {
      inflight: { code: string; message: string } | string;
      idleThreadsAfterRestart: number;
      after: { thread: number; values: number }[];
      restartsBefore: number;
      restartsAfter: number;
    };
    expect(report.inflight).toMatchObject({ code: 'INTERNAL' });
    expect((report.inflight as { message: string }).message).toMatch(
      /executor thread 0 died \(exit code 70\) while running a batch of 64 .* the batch failed/,
    );
    expect(report.idleThreadsAfterRestart).toBe(2); // the replacement came up
    expect(report.after).toHaveLength(4);
    for (const a of report.after) expect(a.values).toBe(30);
    expect(report.after.some((a) => a.thread === 0)).toBe(true); // and serves
    expect(report.restartsAfter).toBe(report.restartsBefore + 1);
  });
});
