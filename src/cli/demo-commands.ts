/**
 * `slackserve demo` (what `make demo` runs): the server on the embedded queue, the bundled
 * MAF-derived trace with a burst replayed against it over gRPC, the summary printed and the
 * report left in reports/demo/.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { replay } from '../replay/replayer.js';
import { reportHtml } from '../replay/report-html.js';
import { perfCsv, requestsCsv, summarize } from '../replay/report.js';
import { applyV8Tuning } from '../server/v8-tuning.js';
import { startServer } from '../server/serve.js';
import { loadReplaySet } from '../supernet/sample.js';
import { readTraceFile } from '../trace/format.js';
import { configFrom, nonNegativeInt } from './options.js';
import { clientWarning, progressLine } from './replay-commands.js';

interface DemoFlags {
  trace: string;
  out: string;
  httpPort: number;
  grpcPort: number;
}

export function registerDemoCommands(program: Command): void {
  program
    .command('demo')
    .description('the main job: serve on the embedded queue, replay a bundled MAF-derived trace with a burst, print the summary, write a report')
    .option('--trace <file>', 'trace to replay', 'traces/demo-maf-burst.csv')
    .option('--out <dir>', 'report directory', 'reports/demo')
    .option('--http-port <n>', 'HTTP port (0: any free one)', nonNegativeInt, 8000)
    .option('--grpc-port <n>', 'gRPC port (0: any free one)', nonNegativeInt, 8001)
    .action(async (o: DemoFlags, cmd: Command) => {
      const cfg = configFrom(cmd, { httpPort: o.httpPort, grpcPort: o.grpcPort, host: '127.0.0.1', redisUrl: 'embedded' });
      applyV8Tuning(cfg);
      const server = await startServer(cfg, { frontend: true, worker: true }, (l) => console.log(l));
      try {
        const cat = server.catalogue;
        const { sample, x } = loadReplaySet(cat);
        const trace = await readTraceFile(o.trace);
        console.log(`metrics:   http://127.0.0.1:${server.httpPort}/metrics`);
        console.log(`dashboard: http://127.0.0.1:${server.httpPort}/dashboard`);
        console.log(`replaying ${o.trace} (${trace.length} requests) against gRPC 127.0.0.1:${server.grpcPort} with policy ${cfg.policy}`);
        let last = 0;
        const r = await replay({
          target: `127.0.0.1:${server.grpcPort}`,
          model: cat.manifest.name,
          inputName: cat.manifest.input.name,
          trace,
          images: x,
          labels: sample.labels,
          sampleShape: cat.sampleShape,
          threads: 1,
          // the server runs in this process: its CPU is in process.cpuUsage too
          serverInProcess: true,
          onProgress: (p) => {
            if (p.elapsedS - last >= 2 || p.done === p.total) {
              last = p.elapsedS;
              console.log(progressLine(p, 'demo'));
            }
          },
        });
        const summary = summarize(r.records, r.scheduleS, r.maxBehindMs, r.client);
        const warning = clientWarning('demo', summary);
        if (warning) console.log(warning);
        mkdirSync(o.out, { recursive: true });
        writeFileSync(join(o.out, 'requests.csv'), requestsCsv(r.records));
        writeFileSync(join(o.out, 'summary.json'), JSON.stringify(summary, null, 1) + '\n');
        writeFileSync(join(o.out, 'perf.csv'), perfCsv(r.records, summary));
        writeFileSync(join(o.out, 'report.html'), reportHtml([{ name: cfg.policy, records: r.records, summary }], `slackserve demo: ${o.trace}`));
        console.log(JSON.stringify(summary, null, 1));
        console.log(`report: ${join(o.out, 'report.html')}`);
      } finally {
        await server.stop();
      }
    });
}
