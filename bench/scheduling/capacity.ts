/**
 * The compute capacity of one subnet on the executor (img/s at batch 64 on the configured
 * executor threads): what "a trace at the capacity of a static subnet" is sized from.
 *
 *   node dist-bench/bench/scheduling/capacity.js --subnet r28_d222_w16-32-64 [--threads 2]
 */
import { parseArgs } from 'node:util';
import { runtimeBest } from '../serving/common.js';

const { values: opt } = parseArgs({ options: { subnet: { type: 'string' }, threads: { type: 'string', default: '2' }, seconds: { type: 'string', default: '4' } } });
if (!opt.subnet) throw new Error('--subnet is required');
const imgPerS = await runtimeBest(opt.subnet, Number(opt.threads), Number(opt.seconds));
console.log(JSON.stringify({ bench: 'scheduling/capacity', subnet: opt.subnet, threads: Number(opt.threads), batch: 64, img_per_s: Math.round(imgPerS) }));
