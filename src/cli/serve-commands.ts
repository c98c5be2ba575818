/** `slackserve serve | frontend | worker`: the server, all in one process or split across processes. */
import type { Command } from 'commander';
import type { ConfigKey } from '../config.js';
import { applyV8Tuning } from '../server/v8-tuning.js';
import { startServer, type Roles } from '../server/serve.js';
import { configFrom, nonNegativeInt, positiveInt } from './options.js';

interface ServeFlags {
  supernet?: string;
  policy?: string;
  redis?: string;
  redisSentinels?: string;
  redisSentinelName?: string;
  host?: string;
  grpcPort?: number;
  httpPort?: number;
  metricsPort?: number;
  threads?: number;
  defaultSloMs?: string;
  admission?: string;
  exits?: string;
  authTokensFile?: string;
  tlsCert?: string;
  tlsKey?: string;
  tlsClientCa?: string;
}

function addServeOptions(cmd: Command, roles: Roles): Command {
  cmd
    .option('--supernet <dir>', 'supernet directory (config `supernet`)')
    .option('--redis <url>', roles.frontend && roles.worker ? 'Redis URL for the request queue (default: in-process)' : 'Redis URL shared by frontends and workers (required, unless --redis-sentinels)')
    .option('--redis-sentinels <list>', 'Redis Sentinels host:port,host:port naming the master (config `redisSentinels`; --redis then gives only its password and db)')
    .option('--redis-sentinel-name <name>', 'master name at the sentinels (config `redisSentinelName`, mymaster)')
    .option('--host <addr>', 'bind address (config `host`, 127.0.0.1)')
    .option('--auth-tokens-file <file>', 'bearer tokens, one a line (config `authTokensFile`; tokens themselves: SLACKSERVE_AUTH_TOKENS, never a flag)')
    .option('--tls-cert <pem>', 'serve TLS with this certificate chain (config `tlsCert`, needs --tls-key)')
    .option('--tls-key <pem>', 'private key of --tls-cert (config `tlsKey`)')
    .option('--tls-client-ca <pem>', 'require client certificates signed by this CA: mutual TLS (config `tlsClientCa`)');
  if (roles.worker)
    cmd
      .option('--policy <name>', 'scheduling policy (config `policy`, docs/scheduling.md)')
      .option('--threads <n>', 'executor threads (config `executorThreads`)', positiveInt)
      .option('--exits <kind>', 'early exits: off | threshold | recall (config `exits`, docs/exits.md)');
  if (roles.frontend)
    cmd
      .option('--grpc-port <n>', 'gRPC port (config `grpcPort`, 8001)', nonNegativeInt)
      .option('--http-port <n>', 'HTTP port (config `httpPort`, 8000)', nonNegativeInt)
      .option('--default-slo-ms <ms>', 'budget of requests without an SLO (config `defaultSloMs`)')
      .option('--admission <mode>', 'reject | downgrade | off (config `admission`)');
  if (roles.worker && !roles.frontend) cmd.option('--metrics-port <n>', '/metrics and health port (config `metricsPort`, 8002)', nonNegativeInt);
  return cmd;
}

async function run(roles: Roles, flags: ServeFlags, cmd: Command): Promise<void> {
  const overrides: Partial<Record<ConfigKey, unknown>> = {
    supernet: flags.supernet,
    policy: flags.policy,
    redisUrl: flags.redis,
    redisSentinels: flags.redisSentinels,
    redisSentinelName: flags.redisSentinelName,
    host: flags.host,
    grpcPort: flags.grpcPort,
    httpPort: flags.httpPort,
    metricsPort: flags.metricsPort,
    executorThreads: flags.threads,
    defaultSloMs: flags.defaultSloMs,
    admission: flags.admission,
    exits: flags.exits,
    authTokensFile: flags.authTokensFile,
    tlsCert: flags.tlsCert,
    tlsKey: flags.tlsKey,
    tlsClientCa: flags.tlsClientCa,
  };
  const cfg = configFrom(cmd, overrides);
  for (const l of applyV8Tuning(cfg)) console.log(l);
  const server = await startServer(cfg, roles, (l) => console.log(l));
  await new Promise<void>((resolve) => {
    let signals = 0;
    let stopping: Promise<void> | undefined;
    const stopNow = (): void => {
      stopping ??= server.stop().then(resolve);
    };
    const onSignal = (sig: string): void => {
      signals++;
      if (signals > 1 || !roles.frontend) {
        // a worker alone (or a second signal) stops at once: running batches finish, queued work goes back
        console.log(`${sig}: stopping (pulling stops, queued work is handed back, running batches finish)`);
        stopNow();
        return;
      }
      console.log(`${sig}: draining (not ready now; new calls refused after ${cfg.drainDelayMs} ms; a second signal stops at once)`);
      void server
        .drain(cfg.drainDelayMs, cfg.drainTimeoutMs)
        .catch((e: unknown) => console.log(`drain failed: ${String(e)}`))
        .then(() => {
          console.log(`${sig}: stopping (pulling stops, queued work is handed back, running batches finish)`);
          stopNow();
        });
    };
    process.on('SIGINT', () => onSignal('SIGINT'));
    process.on('SIGTERM', () => onSignal('SIGTERM'));
  });
  console.log('stopped');
}

export function registerServeCommands(program: Command): void {
  const both = { frontend: true, worker: true };
  addServeOptions(program.command('serve').description('serve the supernet: gRPC (Open Inference Protocol) + HTTP, queue, scheduler and executor in one process'), both).action(
    (flags: ServeFlags, cmd: Command) => run(both, flags, cmd),
  );
  const fe = { frontend: true, worker: false };
  addServeOptions(program.command('frontend').description('the gRPC/HTTP edge only: admits requests into Redis and returns the answers workers send back'), fe).action(
    (flags: ServeFlags, cmd: Command) => run(fe, flags, cmd),
  );
  const wk = { frontend: false, worker: true };
  addServeOptions(program.command('worker').description('a worker only: pulls requests from Redis, schedules (SlackFit), runs the supernet, replies'), wk).action(
    (flags: ServeFlags, cmd: Command) => run(wk, flags, cmd),
  );
}
