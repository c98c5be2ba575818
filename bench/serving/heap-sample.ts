/**
 * Preloaded into a server process by alloc.ts (`--import`): V8's sampling heap profiler on the
 * main isolate, counting every sampled allocation, the ones a GC has since collected included
 * (what the request path allocates, not what it keeps). SIGUSR2 the first time: start afresh (the
 * warm-up is over); the second time: write the total and the top allocating functions to
 * $SLACKSERVE_HEAP_OUT as JSON.
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';

interface Node {
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number };
  readonly selfSize: number;
  readonly children: readonly Node[];
}

const out = process.env.SLACKSERVE_HEAP_OUT;
const session = new Session();
session.connect();
const post = (method: string, params: object = {}): Promise<unknown> =>
  new Promise((resolve, reject) => session.post(method, params, (err, res) => (err ? reject(err) : resolve(res))));
const start = (): Promise<unknown> =>
  post('HeapProfiler.startSampling', { samplingInterval: 16_384, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });

await post('HeapProfiler.enable');
await start();
let signals = 0;
process.on('SIGUSR2', () => {
  signals++;
  if (signals === 1) {
    void post('HeapProfiler.stopSampling').then(start);
    return;
  }
  void post('HeapProfiler.getSamplingProfile').then((res) => {
    const byFn = new Map<string, number>();
    let total = 0;
    const walk = (n: Node): void => {
      total += n.selfSize;
      const cf = n.callFrame;
      const key = `${cf.functionName || '(anonymous)'} ${cf.url.replace(/^file:\/\/.*?\/(dist|node_modules)\//, '$1/')}:${cf.lineNumber + 1}`;
      byFn.set(key, (byFn.get(key) ?? 0) + n.selfSize);
      for (const c of n.children) walk(c);
    };
    walk((res as { profile: { head: Node } }).profile.head);
    const top = [...byFn].sort((a, b) => b[1] - a[1]).slice(0, Number(process.env.HEAP_SAMPLE_TOP ?? 15));
    if (out) writeFileSync(out, JSON.stringify({ bytes: total, top }));
  });
});
