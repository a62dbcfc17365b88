/**
 * The MLflow API as a plain request handler, for a caller that owns the HTTP server (the web UI's
 * server mounts it beside its pages): `createServerHandler({ root })` → `(req, res) => Promise<boolean>`,
 * true when it answered (an `/api/2.0/` or `/ajax-api/2.0/` path). The repo is opened on the first request.
 * No token check here: the caller's server decides who may connect (`startServer` does check one).
 */
import type http from 'node:http';
import { Repo } from '../core/repo.js';
import { MlflowApi } from './mlflow-routes.js';
import { handlerFor, type UiHandler } from './server.js';

export function createServerHandler(o: { root: string; maxJsonBytes?: number; maxArtifactBytes?: number }): UiHandler & { close(): void } {
  let ready: Promise<{ repo: Repo; handle: UiHandler }> | undefined;
  const init = () => (ready ??= (async () => {
    const repo = await Repo.open(o.root);
    const api = await MlflowApi.open(repo, { maxJsonBytes: o.maxJsonBytes ?? 16 * 1024 * 1024, maxArtifactBytes: o.maxArtifactBytes ?? 64 * 1024 ** 3 });
    return { repo, handle: handlerFor(api) };
  })());
  const handler = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<boolean> => {
    if (!/^\/(ajax-)?api\/2\.0\//.test(req.url ?? '/')) return false;
    return (await init()).handle(req, res);
  };
  return Object.assign(handler, {
    close() {
      void ready?.then(({ repo }) => repo.close());
    },
  });
}
