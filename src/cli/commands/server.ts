import type { Command } from 'commander';
import { err, out } from '../render.js';
import { UsageError } from '../usage.js';

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
      const token = o.token ?? process.env.TROVE_SERVER_TOKEN;
      const { serveRepo } = await import('../serve.js');
      await serveRepo({ host: o.host, port, token }, (srv) => {
        out(`trove server: MLflow tracking API at ${srv.url}${token ? ' (bearer token required)' : ''}`);
        out(`  export MLFLOW_TRACKING_URI=${srv.url}`);
      });
      err('trove server: stopped');
    });
}
