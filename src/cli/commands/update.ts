import type { Command } from 'commander';
import { Repo, shellQuote } from '../../core/repo.js';
import { humanBytes, json, out, plural } from '../render.js';

export function register(program: Command): void {
  program
    .command('update')
    .description("move an imported path to its source's latest version (or --rev), showing the diff first")
    .argument('<path>', 'a path brought in with `trove import`')
    .option('--rev <rev>', 'branch, tag or commit in the source (default: its HEAD)')
    .option('-n, --dry-run', 'show the diff only; change nothing')
    .option('--allow-endpoint <url>', 'trust the S3 endpoint that the source repository\'s remote names (your AWS credentials sign requests to it)')
    .option('--force', 'overwrite local changes to the imported data')
    .option('--json', 'print the result as JSON')
    .addHelpText('after', `
Examples:
  $ trove update iris.csv --dry-run        what would change
  $ trove update data/images               to the source's latest version
  $ trove update data/images --rev v3`)
    .action(async (dest: string, o: { rev?: string; dryRun?: boolean; force?: boolean; json?: boolean; allowEndpoint?: string }) => {
      const repo = await Repo.open();
      try {
        const { updateImport } = await import('../../core/importRepo.js');
        const r = await updateImport(repo, dest, { rev: o.rev, dryRun: o.dryRun, force: o.force, allowEndpoint: o.allowEndpoint });
        if (o.json) return json(r);
        const short = (x: string) => x.replace(/^sha256:/, '').slice(0, 12);
        if (!r.changed) {
          out(`${r.path} is up to date with ${r.source.repo} at ${r.source.rev.slice(0, 12)}${r.applied ? ' (source revision recorded)' : ''}`);
          return;
        }
        out(`${r.path}: ${short(r.previous.oid)} (${r.previous.rev.slice(0, 12)}) -> ${short(r.pointer.oid)} (${r.source.rev.slice(0, 12)})`);
        if (r.diff?.kind === 'file') out(`  modified  ${r.path} (${humanBytes(r.diff.oldSize)} -> ${humanBytes(r.diff.newSize)})`);
        if (r.diff?.kind === 'dir') {
          const f = r.diff.files;
          for (const x of f.added) out(`  added     ${x.path}`);
          for (const x of f.deleted) out(`  deleted   ${x.path}`);
          for (const x of f.modified) out(`  modified  ${x.path}`);
          for (const x of f.renamed) out(`  renamed   ${x.from} -> ${x.to}`);
          out(`  (${plural(f.added.length, 'added')}, ${plural(f.deleted.length, 'deleted')}, ${plural(f.modified.length, 'modified')}, ${plural(f.renamed.length, 'renamed')})`.replace(/(\d+) (added|deleted|modified|renamed)s/g, '$1 $2'));
        }
        if (!r.applied) return out('(dry run: nothing changed)');
        out(`updated ${r.path}`);
        if (r.gitAdd.length) out(`\nTo track the change with git, run:\n\n\tgit add ${r.gitAdd.map(shellQuote).join(' ')}`);
      } finally {
        repo.close();
      }
    });
}
