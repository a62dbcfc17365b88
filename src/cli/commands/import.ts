import type { Command } from 'commander';
import { Repo, shellQuote } from '../../core/repo.js';
import { humanBytes, json, out, plural } from '../render.js';

export function register(program: Command): void {
  program
    .command('import')
    .description('bring a tracked path from another trove repository, at an exact version, and remember where it came from')
    .argument('<git-url>', 'the source repository: anything `git clone` accepts, or a folder on this machine')
    .argument('<path>', 'the tracked path in the source repository')
    .option('--rev <rev>', 'branch, tag or commit in the source (default: its HEAD)')
    .option('-o, --out <dest>', 'where to put it here (default: the path\'s last part, in the current folder)')
    .option('--allow-endpoint <url>', 'trust the S3 endpoint that the source repository\'s remote names (your AWS credentials sign requests to it)')
    .option('--force', 'replace what is at the destination')
    .option('--json', 'print the result as JSON')
    .addHelpText('after', `
Examples:
  $ trove import ../registry data/iris.csv                      latest version, as ./iris.csv
  $ trove import https://git.example.com/ds.git images --rev v2 -o data/images
  $ git add data/images.trove data/.gitignore                   then commit the pointer

The objects come from the source repository's default remote. The pointer keeps
source: {repo, rev, path}; \`trove update <dest>\` moves it to the source's latest version.`)
    .action(async (url: string, srcPath: string, o: { rev?: string; out?: string; force?: boolean; json?: boolean; allowEndpoint?: string }) => {
      const repo = await Repo.open();
      try {
        const { importData } = await import('../../core/importRepo.js');
        const r = await importData(repo, url, srcPath, { rev: o.rev, dest: o.out, force: o.force, allowEndpoint: o.allowEndpoint });
        if (o.json) return json(r);
        const p = r.pointer;
        out(`imported ${r.source.path} from ${r.source.repo} at ${r.source.rev.slice(0, 12)} as ${r.path} (${p.type === 'dir' ? `${plural(p.files ?? 0, 'file')}, ` : ''}${humanBytes(p.size)})`);
        if (r.gitAdd.length) out(`\nTo track it with git, run:\n\n\tgit add ${r.gitAdd.map(shellQuote).join(' ')}`);
      } finally {
        repo.close();
      }
    });
}
