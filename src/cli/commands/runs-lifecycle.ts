import type { Command } from 'commander';
import { Repo } from '../../core/repo.js';
import { json, out } from '../render.js';
import { UsageError } from '../usage.js';

/** `trove runs delete|restore|rename|tag`: MLflow's run lifecycle on trove's records. */
export function registerLifecycle(runs: Command): void {
  const act = (fn: (t: import('../../core/runs/tracking.js').Tracking, id: string) => Promise<unknown>, verb: string) =>
    async (idOrPrefix: string, o: { json?: boolean }) => {
      const repo = await Repo.open();
      try {
        const { Tracking } = await import('../../core/runs/tracking.js');
        const t = await Tracking.open(repo);
        const id = await t.store.resolveId(idOrPrefix);
        await fn(t, id);
        if (o.json) json({ id, action: verb });
        else out(`run ${id} ${verb}`);
      } finally {
        repo.close();
      }
    };
  runs.command('delete <run>').description('mark a run deleted: hidden from lists and searches; its data stays for gc\'s grace period')
    .option('--json', 'print the result as JSON')
    .addHelpText('after', '\nExamples:\n  $ trove runs delete 01JD3Z8Q\n  $ trove runs restore 01JD3Z8Q')
    .action(act((t, id) => t.setDeleted(id, true), 'deleted'));
  runs.command('restore <run>').description('bring a deleted run back into lists and searches')
    .option('--json', 'print the result as JSON')
    .addHelpText('after', '\nExamples:\n  $ trove runs restore 01JD3Z8Q')
    .action(act((t, id) => t.setDeleted(id, false), 'restored'));
  runs.command('rename <run> <name>').description('rename a run (also its mlflow.runName tag)')
    .option('--json', 'print the result as JSON')
    .addHelpText('after', '\nExamples:\n  $ trove runs rename 01JD3Z8Q baseline-v2')
    .action(async (id: string, name: string, o: { json?: boolean }) => act((t, rid) => t.rename(rid, name), 'renamed')(id, o));
  runs.command('tag <run> <key=value...>').description('set tags on a run (running or ended)')
    .option('--json', 'print the result as JSON')
    .addHelpText('after', '\nExamples:\n  $ trove runs tag 01JD3Z8Q stage=prod reviewed=yes')
    .action(async (id: string, pairs: string[], o: { json?: boolean }) => {
      const events = pairs.map((p) => {
        const at = p.indexOf('=');
        if (at <= 0) throw new UsageError(`tag ${JSON.stringify(p)}: expected key=value`);
        const key = p.slice(0, at);
        if (key === 'trove.deleted') throw new UsageError('trove.deleted is set by `trove runs delete`');
        return { tag: key, value: p.slice(at + 1) };
      });
      return act((t, rid) => t.log(rid, events), 'tagged')(id, o);
    });
}
