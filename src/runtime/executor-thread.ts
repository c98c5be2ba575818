/**
 * Worker-thread entry: holds the supernet's onnxruntime sessions and runs one batch at a time.
 * onnxruntime-node's run() blocks its thread, which is why it lives here and not on the event loop.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { asSlackserveError } from '../errors.js';
import { Catalogue } from '../supernet/catalogue.js';
import type { FromThread, ThreadInit, ToThread } from './executor-protocol.js';
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

port.on('message', (msg: ToThread) => void run(msg));

async function run(msg: ToThread): Promise<void> {
  if (msg.crash) {
    // Injected death. The sessions are released first: a worker that exits while holding
    // onnxruntime sessions aborted the whole process in most runs (docs/runtime.md).
    await graphs.close();
    process.exit(70);
  }
  const t0 = performance.now();
  try {
    let logits: Float32Array;
    if (msg.mode === 'whole') logits = await graphs.runWhole(msg.images, msg.subnetId);
    else
      logits = (
        await graphs.runStaged(msg.images, msg.subnetId, (stage, ramp) => {
          const copy = ramp.slice();
          post({ type: 'stage', id: msg.id, stage, logits: copy }, [copy.buffer]);
        })
      ).logits;
    // onnxruntime owns its output buffers; hand back a copy we can transfer without a second copy.
    const out = logits.slice();
    post({ type: 'done', id: msg.id, logits: out, computeMs: performance.now() - t0 }, [out.buffer]);
  } catch (err) {
    const e = asSlackserveError(err);
    post({ type: 'error', id: msg.id, code: e.code, message: e.message });
  }
}
