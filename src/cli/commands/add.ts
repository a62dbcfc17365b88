import type { Command } from 'commander';
import { shellQuote } from '../../core/repo.js';
import { humanBytes, json, out, plural, withRepoWork } from '../render.js';

export function register(program: Command): void {
  program
    .command('add')
    .description('hash files and folders into the cache and write their pointer files (<path>.trove)')
    .argument('<paths...>', 'files, folders or globs')
    .option('-j, --jobs <n>', 'files hashed in parallel', (v) => parseInt(v, 10))
    .option('--json', 'print the result as JSON')
    .addHelpText('after', `
Examples:
  $ trove add data/                    track a folder (a Merkle tree of its files)
  $ trove add models/model.pkl         track one file
  $ trove add 'data/*.parquet'         a glob (quote it so the shell leaves it to trove)
  $ git add data.trove .gitignore      then commit the pointer

Re-adding a folder hashes only files whose size, mtime or inode changed. Patterns in
.troveignore (gitignore syntax) are skipped. The data path is added to the .gitignore beside it.`)
    .action(async (paths: string[], o: { jobs?: number; json?: boolean }) => {
      await withRepoWork('adding', o, async ({ repo, onProgress, signal, stopBar }) => {
        const r = await repo.add(paths, { jobs: o.jobs, onProgress, signal });
        stopBar();
        if (o.json) return json(r);
        for (const x of r.results) {
          const what = x.type === 'dir' ? `${plural(x.files, 'file')}, ${humanBytes(x.size)}` : humanBytes(x.size);
          out(`${x.changed ? 'added' : 'unchanged'} ${x.path} (${what})`);
        }
        if (r.packsMerged) out(`merged ${plural(r.packsMerged, 'small pack')} into fewer (gc.autoMerge)`);
        if (r.gitAdd.length) out(`\nTo track the changes with git, run:\n\n\tgit add ${r.gitAdd.map(shellQuote).join(' ')}`);
      });
    });
}
