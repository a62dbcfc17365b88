import type { Command } from 'commander';
import { TroveError } from '../../core/errors.js';
import { pull } from '../../core/transfer.js';
import { json, out, plural, withRepoWork } from '../render.js';
import { renderTransfer, transferOptions, type TransferCliOptions } from '../renderTransfer.js';

export function register(program: Command): void {
  transferOptions(program
    .command('pull')
    .description('fetch what the pointers name, then check it out into the workspace')
    .argument('[paths...]', 'tracked paths, or paths inside tracked folders (default: all)'))
    .option('-f, --force', 'discard workspace changes that are not in the cache')
    .addHelpText('after', `
Examples:
  $ git clone <repo> && cd <repo> && trove pull     get the data of a fresh clone
  $ trove pull data/images/cats                      fetch and restore one part of a folder

Whatever could be fetched is restored even when some objects are missing; those are named and the
exit code is 1.`)
    .action(async (paths: string[], o: TransferCliOptions & { force?: boolean }) => {
      await withRepoWork('pull', o, async ({ repo, onProgress, signal, stopBar }) => {
        const r = await pull(repo, { ...o, revs: o.rev, paths, onProgress, signal });
        stopBar();
        if (o.json) json(r);
        else {
          renderTransfer('fetched', r.fetch);
          for (const c of r.checkout) if (c.written || c.deleted) out(`${c.path}: ${plural(c.written, 'file')} written, ${c.deleted} deleted`);
        }
        const failed = r.fetch.failed;
        if (r.missingFiles.length || failed.length) {
          const names = r.missingFiles.slice(0, 10).join(', ') + (r.missingFiles.length > 10 ? ', …' : '');
          const f = failed.slice(0, 5).map((x) => `${x.where}: ${x.error}`).join('; ');
          throw new TroveError(failed.some((x) => x.code === 'INTEGRITY') ? 'INTEGRITY' : 'MISSING_OBJECT',
            [r.missingFiles.length ? `${plural(r.missingFiles.length, 'path')} could not be restored (not on remote "${r.fetch.remote}" or failed): ${names}` : '', f].filter(Boolean).join('\n'),
            'everything else was restored; push the missing data from a machine that has it, then pull again');
        }
      });
    });
}
