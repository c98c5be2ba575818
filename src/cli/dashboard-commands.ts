/** `slackserve dashboard --redis URL`: the live dashboard of a split deployment. */
import type { Command } from 'commander';
import { metricsTokensOf } from '../api/auth.js';
import { startStandaloneDashboard } from '../dashboard/standalone.js';
import { redisTargetOf } from '../server/serve.js';
import { Catalogue } from '../supernet/catalogue.js';
import { configFrom, nonNegativeInt } from './options.js';

export function registerDashboardCommands(program: Command): void {
  program
    .command('dashboard')
    .description('serve the live dashboard for frontends and workers sharing a Redis (outcomes from every frontend)')
    .requiredOption('--redis <url>', 'Redis URL the deployment shares (with `redisSentinels` set: only its user, password and db count, as for frontends)')
    .option('--port <n>', 'HTTP port of the dashboard', nonNegativeInt, 8080)
    .option('--host <addr>', 'bind address (config `host`)')
    .action(async (o: { redis: string; port: number; host?: string }, cmd: Command) => {
      const cfg = configFrom(cmd, { redisUrl: o.redis, host: o.host });
      // with redisSentinels set (config or SLACKSERVE_REDIS_SENTINELS), --redis gives the credentials
      const redis = redisTargetOf(cfg) ?? { url: o.redis };
      const d = await startStandaloneDashboard({ redis, prefix: cfg.queuePrefix, host: cfg.host, port: o.port, model: Catalogue.load(cfg.supernet).manifest.name, metricsToken: metricsTokensOf(cfg) });
      console.log(`dashboard: http://${cfg.host === '0.0.0.0' ? '127.0.0.1' : cfg.host}:${d.port}/dashboard (queue prefix ${cfg.queuePrefix})`);
      await new Promise<void>((resolve) => {
        const stop = (): void => void d.stop().then(resolve);
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
    });
}
