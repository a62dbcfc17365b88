import type { Command } from 'commander';
import { Repo } from '../../core/repo.js';
import { humanBytes, json, out } from '../render.js';

export function register(program: Command): void {
  program
    .command('ls')
    .description('list tracked paths, or the files inside a tracked folder (without reading the data)')
    .argument('[path]', 'a tracked folder, or a folder inside one')
    .option('--json', 'print the result as JSON')
    .addHelpText('after', `
Examples:
  $ trove ls                 every tracked path with its size and state
  $ trove ls data/images     the files of a tracked folder

State comes from the trees and the stat cache: present, modified, missing, or unknown
(changed stat, not re-hashed: \`trove status\` tells for sure).`)
    .action(async (p: string | undefined, o: { json?: boolean }) => {
      const repo = await Repo.open();
      try {
        const rows = await repo.ls(p);
        if (o.json) return json(rows);
        const w = Math.max(0, ...rows.map((r) => humanBytes(r.size).length));
        for (const r of rows) out(`${r.state.padEnd(8)} ${humanBytes(r.size).padStart(w)}  ${r.path}${r.type === 'dir' ? `/  (${r.files} files)` : ''}`);
      } finally {
        repo.close();
      }
    });
}
