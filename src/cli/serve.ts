import type { RunningServer } from '../server/server.js';

/**
 * What `trove server` and `trove ui` share: the repo's MLflow API with the web UI at `/`, started once
 * the run index is current (building it from 10,000 records takes seconds, so the first page or search
 * would otherwise pay for it; afterwards only changed records are read), served until Ctrl-C.
 * Bind rules, the token, the Host check and body caps live in the server itself.
 */
export async function serveRepo(o: { host: string; port: number; token?: string }, announce: (srv: RunningServer, root: string) => void): Promise<void> {
  const { assertBindable, startServer } = await import('../server/server.js');
  assertBindable(o.host, o.token || undefined);
  const { Repo } = await import('../core/repo.js');
  const repo = await Repo.open();
  const root = repo.root;
  try {
    const { index } = await (await repo.runStore()).openIndex();
    index.close();
  } finally {
    repo.close();
  }
  const { createUiHandler } = await import('../ui/handler.js');
  const srv = await startServer({ root, host: o.host, port: o.port, token: o.token, uiHandler: createUiHandler({ root }) });
  announce(srv, root);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await srv.close();
}
