import type { Command } from 'commander';
import { push } from '../../core/transfer.js';
import { json, withRepoWork } from '../render.js';
import { failIfIncomplete, renderTransfer, transferOptions, type TransferCliOptions } from '../renderTransfer.js';

export function register(program: Command): void {
  transferOptions(program
    .command('push')
    .description('upload the objects that the pointers name to a remote (only what it lacks)')
    .argument('[paths...]', 'tracked paths, or paths inside tracked folders (default: all)'))
    .addHelpText('after', `
Examples:
  $ trove push                      everything the workspace's pointers name, to the default remote
  $ trove push data/ -r backup      one folder, to the remote "backup"
  $ trove push --all-branches --all-tags   what every branch and tag needs (pre-push hook, CI)

A folder's tree is uploaded only after everything below it, so an interrupted push never leaves a
remote that looks complete; run it again to finish. Exit 1 when an object could not be pushed.`)
    .action(async (paths: string[], o: TransferCliOptions) => {
      await withRepoWork('push', o, async ({ repo, onProgress, signal, stopBar }) => {
        const r = await push(repo, { ...o, revs: o.rev, paths, onProgress, signal });
        stopBar();
        if (o.json) json(r);
        else renderTransfer('pushed', r);
        failIfIncomplete('push', r);
      });
    });
}
