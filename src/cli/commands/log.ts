import type { Command } from 'commander';
import { shortOid } from '../../core/oid.js';
import { Repo } from '../../core/repo.js';
import { humanBytes, json, out } from '../render.js';

export function register(program: Command): void {
  program
    .command('log')
    .description('the history of one tracked path: every commit where its pointer changed')
    .argument('<path>', 'a tracked path (or its .trove file)')
    .option('--no-follow', 'do not follow renames of the pointer')
    .option('-n, --max-count <n>', 'at most n commits', (v) => parseInt(v, 10))
    .option('--json', 'print the result as JSON')
    .addHelpText('after', `
Examples:
  $ trove log data
  $ trove log models/model.pkl --json
  $ trove log data -n 5

Each row: commit, date, author, subject, the version's oid, size and files, and the files
added / modified / deleted against the previous version (from the trees in the cache).`)
    .action(async (p: string, o: { follow: boolean; maxCount?: number; json?: boolean }) => {
      const { log } = await import('../../core/versions.js');
      const repo = await Repo.open();
      try {
        const rows = await log(repo, p, { follow: o.follow, max: o.maxCount });
        if (o.json) return json(rows);
        for (const r of rows) {
          out(`commit ${r.commit}`);
          out(`Date:   ${r.date}   Author: ${r.author}`);
          out(`    ${r.subject}`);
          if (r.oid === null) out(`    ${r.pointerFile}: deleted`);
          else {
            const c = r.changes ? `; ${r.changes.added} added, ${r.changes.modified} modified, ${r.changes.deleted} deleted${r.changes.renamed ? `, ${r.changes.renamed} renamed` : ''}` : '';
            out(`    ${r.pointerFile}: ${shortOid(r.oid)} ${humanBytes(r.size ?? 0)}${r.files !== null ? `, ${r.files} files` : ''}${c}`);
          }
          out();
        }
      } finally {
        repo.close();
      }
    });
}
