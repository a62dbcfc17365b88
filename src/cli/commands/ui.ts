import { spawn } from 'node:child_process';
import type { Command } from 'commander';
import { UsageError } from '../usage.js';
import { err, out } from '../render.js';



export function register(program: Command): void {
  program
    .command('ui')
    .description('serve the web UI (runs, charts, compare, lineage, data history) and open it in a browser')
    .option('-p, --port <n>', 'port to listen on (0: any free port)', (v) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 0 || n > 65535) throw new UsageError(`--port must be 0..65535, got ${v}`);
      return n;
    }, 5005)
    .option('--host <address>', 'address to bind (default 127.0.0.1; any other needs --token)', '127.0.0.1')
    .option('--token <token>', 'require `Authorization: Bearer <token>` (or set TROVE_SERVER_TOKEN)')
    .option('--no-open', 'do not open a browser')
    .addHelpText('after', `
Examples:
  $ trove ui                       serve on http://127.0.0.1:5005 and open the browser
  $ trove ui --port 8080 --no-open
  $ TROVE_SERVER_TOKEN=s3cret trove ui --host 0.0.0.0   reachable from other machines, token required

The UI works offline (no CDN, no remote fonts). Stop it with Ctrl-C.`)
    .action(async (o: { port: number; host: string; token?: string; open: boolean }) => {
      const token = o.token ?? process.env.TROVE_SERVER_TOKEN ?? undefined;
      const { serveRepo } = await import('../serve.js');
      await serveRepo({ host: o.host, port: o.port, token }, (srv, root) => {
        const url = `http://${o.host.includes(':') ? `[${o.host}]` : o.host}:${srv.port}/`;
        out(`trove ui: serving ${root} at ${url}`);
        if (o.open && process.stdout.isTTY) {
          const opener = process.platform === 'darwin' ? 'open' : 'xdg-open';
          const child = spawn(opener, [url], { stdio: 'ignore', detached: true });
          child.on('error', () => err(`trove: could not start ${opener}; open ${url} yourself`));
          child.unref();
        }
      });
    });
}
