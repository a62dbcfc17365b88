import { spawn } from 'node:child_process';
import { timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage } from 'node:http';
import type { Command } from 'commander';
import { Repo } from '../../core/repo.js';
import { TroveError } from '../../core/errors.js';
import { UsageError } from '../main.js';
import { err, out } from '../render.js';

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '::1']);

/** A Host header that names this machine's loopback (defeats DNS rebinding against a local server). */
function loopbackHost(req: IncomingMessage): boolean {
  const h = (req.headers.host ?? '').toLowerCase().replace(/:\d+$/, '').replace(/^\[(.*)\]$/, '$1');
  return LOOPBACK.has(h);
}

function tokenMatches(req: IncomingMessage, token: string): boolean {
  const got = Buffer.from(String(req.headers.authorization ?? ''));
  const want = Buffer.from(`Bearer ${token}`);
  return got.length === want.length && timingSafeEqual(got, want);
}

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
      const local = LOOPBACK.has(o.host);
      if (!local && !token) {
        throw new UsageError(`--host ${o.host} is not a loopback address: anyone who can reach it could read your runs; give --token <token> or set TROVE_SERVER_TOKEN`);
      }
      const repo = await Repo.open();
      const root = repo.root;
      repo.close();
      const { createUiHandler } = await import('../../ui/handler.js');
      const ui = createUiHandler({ root });
      const server = createServer((req, res) => {
        if (local && !loopbackHost(req)) {
          res.writeHead(421, { 'Content-Type': 'text/plain' }).end('this server answers only to localhost names\n');
          return;
        }
        if (token && !tokenMatches(req, token)) {
          res.writeHead(401, { 'Content-Type': 'text/plain', 'WWW-Authenticate': 'Bearer' }).end('a bearer token is required\n');
          return;
        }
        ui(req, res).then((answered) => {
          if (!answered) res.writeHead(404, { 'Content-Type': 'application/json' }).end(JSON.stringify({ error_code: 'ENDPOINT_NOT_FOUND', message: `no endpoint at ${req.url}` }));
        }, (e) => {
          res.destroy(e as Error);
        });
      });
      await new Promise<void>((resolve, reject) => {
        server.once('error', (e: NodeJS.ErrnoException) => reject(new TroveError('BAD_ARGS', `cannot listen on ${o.host}:${o.port}: ${e.code ?? e.message}`, e.code === 'EADDRINUSE' ? 'pick another --port (or --port 0 for any free one)' : undefined)));
        server.listen(o.port, o.host, resolve);
      });
      const addr = server.address();
      const port = typeof addr === 'object' && addr ? addr.port : o.port;
      const url = `http://${o.host.includes(':') ? `[${o.host}]` : o.host}:${port}/`;
      out(`trove ui: serving ${root} at ${url}`);
      if (o.open && process.stdout.isTTY) {
        const opener = process.platform === 'darwin' ? 'open' : 'xdg-open';
        const child = spawn(opener, [url], { stdio: 'ignore', detached: true });
        child.on('error', () => err(`trove: could not start ${opener}; open ${url} yourself`));
        child.unref();
      }
      await new Promise<void>((resolve) => {
        const stop = () => server.close(() => resolve());
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
    });
}
