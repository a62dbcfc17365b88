/**
 * `trove server`: MLflow's REST API over trove's run records, on node:http.
 *
 * - Binds 127.0.0.1 by default. On any other address it refuses to start without a token; with a
 *   token every request must carry `Authorization: Bearer <token>` (what the MLflow client sends for
 *   `MLFLOW_TRACKING_TOKEN`), compared in constant time. The token is never logged or stored.
 * - JSON bodies are capped (`maxJsonBytes`), artifact bodies too (`maxArtifactBytes`, streamed to the
 *   cache, never held in memory). Malformed JSON is MLflow's 400 `MALFORMED_REQUEST`, never a crash.
 * - Errors have MLflow's shape `{error_code, message}` and its HTTP statuses.
 * - Paths under `/api/2.0/` and `/ajax-api/2.0/` are the API; anything else (the web UI's pages and its
 *   own `/api/trove/…`) goes to `uiHandler` when given, else 404.
 */
import { timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { TroveError } from '../core/errors.js';
import { Repo } from '../core/repo.js';
import { artifactRoute } from './artifacts.js';
import { MlflowApi } from './mlflow-routes.js';
import { MlflowError, sendError, toMlflowError } from './mlflowError.js';

export type UiHandler = (req: http.IncomingMessage, res: http.ServerResponse) => Promise<boolean>;

export interface ServerOptions {
  /** The repo (any folder inside it). */
  root: string;
  host?: string;
  port?: number;
  token?: string;
  uiHandler?: UiHandler;
  maxJsonBytes?: number;
  maxArtifactBytes?: number;
  /**
   * `trove run` attach: the run the child's MLflow client attaches to. Its `runs/update` does not end
   * the record (trove ends it when the command exits); when `adoptExperiment` is set, the first
   * experiment the script creates or looks up becomes the run's experiment.
   */
  attach?: { runId: string; adoptExperiment: boolean };
}

export interface RunningServer {
  url: string;
  host: string;
  port: number;
  close(): Promise<void>;
}

export { MLFLOW_STATUS, MlflowError, toMlflowError, sendJson, sendError } from './mlflowError.js';

/** The name in a Host header, without port or IPv6 brackets. */
function hostName(header: string | undefined): string {
  return (header ?? '').toLowerCase().replace(/:\d+$/, '').replace(/^\[(.*)\]$/, '$1');
}

function isJson(contentType: string | undefined): boolean {
  return (contentType ?? '').split(';')[0].trim().toLowerCase() === 'application/json';
}

function isLoopback(host: string): boolean {
  return host === '127.0.0.1' || host === '::1' || host === 'localhost' || /^127\./.test(host);
}

function tokenMatches(header: string | undefined, token: string): boolean {
  const m = /^Bearer (.+)$/.exec(header ?? '');
  if (!m) return false;
  const a = Buffer.from(m[1]!);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * The API as a request handler: answers `/api/2.0/…` and `/ajax-api/2.0/…` (true), leaves anything
 * else to the caller (false). Authentication is the caller's (startServer checks the token first).
 */
export function handlerFor(api: MlflowApi): UiHandler {
  return async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://trove.invalid');
    // Only MLflow's prefix: other /api/ paths (the web UI's /api/trove/…) are the caller's.
    if (!/^\/(ajax-)?api\/2\.0\//.test(url.pathname)) return false;
    const rest = url.pathname.replace(/^\/(ajax-)?api\/2\.0\//, '');
    try {
      if (rest.startsWith('mlflow-artifacts/')) await artifactRoute(api, req, res, url, rest.slice('mlflow-artifacts/'.length));
      else if (rest.startsWith('mlflow/')) await api.route(req, res, url, rest.slice('mlflow/'.length));
      else throw new MlflowError('ENDPOINT_NOT_FOUND', `unsupported API path ${url.pathname}`);
    } catch (err) {
      req.resume();
      sendError(res, toMlflowError(err));
    }
    return true;
  };
}

/** Anything but loopback needs a token (checked before any work, and again by startServer). */
export function assertBindable(host: string, token: string | undefined): void {
  if (!isLoopback(host) && !token) {
    throw new TroveError('BAD_ARGS', `refusing to serve on ${host} without a token: anyone who can reach it could write runs`,
      'give --token <secret> (or set TROVE_SERVER_TOKEN); clients set MLFLOW_TRACKING_TOKEN to the same value');
  }
}

/**
 * Starts the server in this process. `port: 0` picks a free port (see `url`).
 * @example const srv = await startServer({ root: repoDir, port: 0 }); …; await srv.close()
 */
export async function startServer(o: ServerOptions): Promise<RunningServer> {
  const host = o.host ?? '127.0.0.1';
  const token = o.token || undefined;
  assertBindable(host, token);
  const repo = await Repo.open(o.root);
  const api = await MlflowApi.open(repo, {
    maxJsonBytes: o.maxJsonBytes ?? 16 * 1024 * 1024,
    maxArtifactBytes: o.maxArtifactBytes ?? 64 * 1024 * 1024 * 1024,
    attach: o.attach,
  });
  const server = http.createServer((req, res) => {
    void handle(req, res).catch((err) => {
      sendError(res, toMlflowError(err));
    });
  });
  // Keep-alive connections would hold close() open for their idle timeout.
  server.keepAliveTimeout = 5_000;

  const apiHandler = handlerFor(api);
  const local = isLoopback(host);
  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    // Bound to loopback, answer only to loopback names: a web page whose host name resolves to
    // 127.0.0.1 (DNS rebinding) must not reach the API or the UI.
    if (local && !isLoopback(hostName(req.headers.host))) {
      req.resume();
      return sendError(res, new MlflowError('MISDIRECTED_REQUEST', 'this server answers only to localhost names'));
    }
    // A cross-site form or fetch can POST text/plain without a CORS preflight; the MLflow client always
    // sends JSON. Requiring application/json makes every browser ask first, and this server never says yes.
    if (req.method === 'POST' && (req.url ?? '').startsWith('/api/') && !isJson(req.headers['content-type'])) {
      req.resume();
      return sendError(res, new MlflowError('UNSUPPORTED_MEDIA_TYPE', 'POST bodies must be Content-Type: application/json'));
    }
    if (token && !tokenMatches(req.headers.authorization, token)) {
      req.resume();
      res.setHeader('WWW-Authenticate', 'Bearer');
      return sendError(res, new MlflowError('UNAUTHENTICATED', 'missing or wrong bearer token (set MLFLOW_TRACKING_TOKEN)'));
    }
    if (await apiHandler(req, res)) return;
    if (o.uiHandler && (await o.uiHandler(req, res))) return;
    req.resume();
    sendError(res, new MlflowError('ENDPOINT_NOT_FOUND', `no such page: ${new URL(req.url ?? '/', 'http://trove.invalid').pathname}`));
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => {
      reject(new TroveError('SERVER', `cannot listen on ${host}:${o.port ?? 5000}: ${err.code ?? err.message}`, err.code === 'EADDRINUSE' ? 'pick another --port' : undefined, { cause: err }));
    });
    server.listen(o.port ?? 5000, host, () => resolve());
  });
  const addr = server.address() as AddressInfo;
  const shown = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  return {
    url: `http://${shown}:${addr.port}`,
    host: addr.address,
    port: addr.port,
    async close() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      repo.close();
    },
  };
}
