import type { Command } from 'commander';
import { fetch } from '../../core/transfer.js';
import { json, withRepoWork } from '../render.js';
import { failIfIncomplete, renderTransfer, transferOptions, type TransferCliOptions } from '../renderTransfer.js';

export function register(program: Command): void {
  transferOptions(program
    .command('fetch')
    .description('download the objects that the pointers name into the cache (the workspace is not changed)')
    .argument('[paths...]', 'tracked paths, or paths inside tracked folders (default: all)'))
    .addHelpText('after', `
Examples:
  $ trove fetch                     everything the workspace's pointers name
  $ trove fetch data/images/cats    only that part of the tracked folder data/
  $ trove fetch --all-tags -r backup

Every object is verified against its hash before it enters the cache; a corrupt object on the
remote is refused (exit 1) and nothing is inserted.`)
    .action(async (paths: string[], o: TransferCliOptions) => {
      await withRepoWork('fetch', o, async ({ repo, onProgress, signal, stopBar }) => {
        const r = await fetch(repo, { ...o, revs: o.rev, paths, onProgress, signal });
        stopBar();
        if (o.json) json(r);
        else renderTransfer('fetched', r);
        failIfIncomplete('fetch', r);
      });
    });
}
