/**
 * Worker-thread entry: holds the supernet's onnxruntime sessions and runs one batch at a time.
 * onnxruntime-node's run() blocks its thread, which is why it lives here and not on the event loop.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { asSlackserveError } from '../errors.js';
import { Catalogue } from '../supernet/catalogue.js';
import type { FromThread, RunMessage, ThreadInit, ToThread } from './executor-protocol.js';
import { ort } from './session.js';
import { SupernetGraphs } from './supernet-graphs.js';

const port = parentPort;
if (!port) throw new Error('executor-thread must run in a worker thread');
const post = (msg: FromThread, transfer: ArrayBuffer[] = []): void => port.postMessage(msg, transfer);

const init = workerData as ThreadInit;
let graphs: SupernetGraphs;
try {
  graphs = await SupernetGraphs.open(Catalogue.load(init.dir), init.settings, init.encoding);
  post({ type: 'ready' });
} catch (err) {
  const e = asSlackserveError(err);
  post({ type: 'init-error', code: e.code, message: e.message });
  process.exit(1);
}

const slotViews = init.slots.map((sab) => new Float32Array(sab));
/**
 * onnxruntime-node refuses tensors over shared memory ("Invalid argument"), so a batch in a slot
 * is copied into this thread's own buffer (allocated once; a thread runs one batch at a time).
 */
let local = new Float32Array(0);

/** The batch a run message names (from its shared slot, or the images it carries). */
function imagesOf(msg: RunMessage): Float32Array {
  if (msg.slot === undefined) return msg.images ?? new Float32Array(0);
  const view = slotViews[msg.slot];
  if (!view) throw new Error(`batch slot ${msg.slot} does not exist`);
  const floats = msg.floats ?? 0;
  if (local.length < view.length) local = new Float32Array(view.length);
  local.set(view.subarray(0, floats));
  return local.subarray(0, floats);
}

const keepWaiters = new Map<number, (rows: Int32Array) => void>();

port.on('message', (msg: ToThread) => {
  if (msg.type === 'keep') keepWaiters.get(msg.id)?.(msg.rows);
  else void run(msg);
});

const waitKeep = (id: number): Promise<Int32Array> =>
  new Promise((resolve) =>
    keepWaiters.set(id, (rows) => {
      keepWaiters.delete(id);
      resolve(rows);
    }),
  );

/** The rows at `positions` of a [batch, ...] tensor, as a new tensor. */
function sliceRows(t: ort.Tensor, positions: readonly number[]): ort.Tensor {
  const data = t.data as Float32Array;
  const per = data.length / (t.dims[0] as number);
  const out = new Float32Array(positions.length * per);
  positions.forEach((p, i) => out.set(data.subarray(p * per, (p + 1) * per), i * per));
  return new ort.Tensor('float32', out, [positions.length, ...t.dims.slice(1)]);
}

/**
 * Staged run that drops exited rows from later stages: after each stage the main thread says
 * which original rows continue; the hidden state is cut to them. Final logits come back for the
 * rows still present, with their original indices.
 */
async function runSaving(msg: RunMessage, images: Float32Array): Promise<{ logits: Float32Array; rows: Int32Array }> {
  let rows: Int32Array = Int32Array.from({ length: images.length / graphs.catalogue.sampleSize }, (_, i) => i);
  let input: ort.Tensor | Float32Array = images;
  for (const st of graphs.catalogue.stageChain(msg.subnetId)) {
    const out = await graphs.runStage(input, msg.subnetId, st.id);
    const copy = out.ramp.slice();
    const keepP = waitKeep(msg.id);
    post({ type: 'stage', id: msg.id, stage: st.id, logits: copy, rows: rows.slice() }, [copy.buffer]);
    const keep = await keepP;
    let hidden = out.hidden;
    if (keep.length < rows.length) {
      if (keep.length === 0) return { logits: new Float32Array(0), rows: keep };
      const at = new Map(Array.from(rows, (r, i) => [r, i]));
      hidden = sliceRows(hidden, Array.from(keep, (r) => at.get(r) as number));
      rows = Int32Array.from(keep);
    }
    input = hidden;
  }
  return { logits: await graphs.runHead(input as ort.Tensor, msg.subnetId), rows };
}

async function run(msg: RunMessage): Promise<void> {
  if (msg.crash) {
    // Injected death. The sessions are released first: a worker that exits while holding
    // onnxruntime sessions aborted the whole process in most runs (docs/runtime.md).
    await graphs.close();
    process.exit(70);
  }
  const t0 = performance.now();
  try {
    let logits: Float32Array;
    let rows: Int32Array | undefined;
    const images = imagesOf(msg);
    if (msg.mode === 'whole') logits = await graphs.runWhole(images, msg.subnetId);
    else if (msg.saveCompute) ({ logits, rows } = await runSaving(msg, images));
    else
      logits = (
        await graphs.runStaged(images, msg.subnetId, (stage, ramp) => {
          const copy = ramp.slice();
          post({ type: 'stage', id: msg.id, stage, logits: copy }, [copy.buffer]);
        })
      ).logits;
    // onnxruntime owns its output buffers; hand back a copy we can transfer without a second copy.
    const out = logits.slice();
    post({ type: 'done', id: msg.id, logits: out, computeMs: performance.now() - t0, ...(rows ? { rows } : {}) }, [out.buffer]);
  } catch (err) {
    const e = asSlackserveError(err);
    post({ type: 'error', id: msg.id, code: e.code, message: e.message });
  }
}
