import type { Command } from 'commander';
import { Repo } from '../../core/repo.js';
import { err, out } from '../render.js';
import { UsageError } from '../main.js';

export function register(program: Command): void {
  program
    .command('server')
    .description("serve MLflow's tracking REST API over this repo's run records (MLflow code logs into trove unchanged)")
    .option('--host <host>', 'address to bind (anything but loopback needs a token)', '127.0.0.1')
    .option('--port <port>', 'port to listen on', '5000')
    .option('--token <token>', 'require Authorization: Bearer <token> (default: $TROVE_SERVER_TOKEN)')
    .addHelpText('after', `
Examples:
  $ trove server                                 http://127.0.0.1:5000 (the web UI at /)
  $ MLFLOW_TRACKING_URI=http://127.0.0.1:5000 python train.py
  $ TROVE_SERVER_TOKEN=s3cret trove server --host 0.0.0.0 --port 8080
  $ MLFLOW_TRACKING_TOKEN=s3cret MLFLOW_TRACKING_URI=http://host:8080 python train.py

Runs, artifacts, logged models and registered models land in .trove/runs/ and the cache, and travel
with trove push / pull. Stop with Ctrl-C.`)
    .action(async (o: { host: string; port: string; token?: string }) => {
      const port = Number(o.port);
      if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`--port ${JSON.stringify(o.port)}: expected 0-65535`);
      const repo = await Repo.open();
      const root = repo.root;
      // Bring the run index up to date before the first page or search asks (building it from
      // 10,000 records takes seconds; afterwards only changed records are read).
      try {
        const { index } = await (await repo.runStore()).openIndex();
        index.close();
      } finally {
        repo.close();
      }
      const { startServer } = await import('../../server/server.js');
      // The web UI at / (its pages and /api/trove/…); the MLflow API keeps /api/2.0/.
      const { createUiHandler } = await import('../../ui/handler.js');
      const srv = await startServer({ root, host: o.host, port, token: o.token ?? process.env.TROVE_SERVER_TOKEN, uiHandler: createUiHandler({ root }) });
      out(`trove server: MLflow tracking API at ${srv.url}${o.token || process.env.TROVE_SERVER_TOKEN ? ' (bearer token required)' : ''}`);
      out(`  export MLFLOW_TRACKING_URI=${srv.url}`);
      await new Promise<void>((resolve) => {
        const stop = () => resolve();
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
      await srv.close();
      err('trove server: stopped');
    });
}
