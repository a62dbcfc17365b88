import type { Command } from 'commander';
import { Repo } from '../../core/repo.js';
import { UsageError } from '../usage.js';
import { humanBytes, json, out } from '../render.js';
import { splitAtDashDash } from './checkout.js';

export function register(program: Command): void {
  program
    .command('diff')
    .description('what changed in tracked data between two revisions, or a revision and the workspace')
    .argument('[args...]', '[<rev-a> [<rev-b>]] [-- paths...]')
    .option('--stat', 'counts only')
    .option('--json', 'print the result as JSON')
    .addHelpText('after', `
Examples:
  $ trove diff                      HEAD vs the workspace (edits not yet added count)
  $ trove diff v1                   tag v1 vs the workspace
  $ trove diff v1 v2 -- data        between two revisions, one tracked folder
  $ trove diff HEAD~1 --stat

Per tracked path: added / deleted / modified; inside folders the files added, deleted, modified and
renamed (same content, new name), with sizes. Equal sub-folders are skipped by oid.`)
    .action(async (operands: string[], o: { stat?: boolean; json?: boolean }) => {
      const { isRev, resolveRev } = await import('../../core/history.js');
      const { diff } = await import('../../core/versions.js');
      const repo = await Repo.open();
      try {
        let { before, after } = splitAtDashDash(process.argv, operands);
        if (!process.argv.includes('--')) {
          // like git: leading operands that name revisions are revisions, the rest are paths
          before = [];
          for (const a of operands) if (before.length < 2 && before.length === operands.indexOf(a) && (await isRev(repo.git, a))) before.push(a);
          after = operands.slice(before.length);
          // like git: an operand that is neither a revision nor a path is an unknown revision (exit 1),
          // not an empty diff
          for (const a of after) if (!(await isPathOperand(repo, a))) await resolveRev(repo.git, a);
        }
        if (before.length > 2) throw new UsageError(`at most two revisions, got ${before.join(' ')}`);
        const res = await diff(repo, { from: before[0], to: before[1], paths: after });
        if (o.json) {
          return json(o.stat ? res.map((d) => ({ ...d, files: d.files && { added: d.files.added.length, deleted: d.files.deleted.length, modified: d.files.modified.length, renamed: d.files.renamed.length } })) : res);
        }
        for (const d of res) {
          const size = (x?: { size: number; files?: number }) => (x ? `${humanBytes(x.size)}${x.files !== undefined ? `, ${x.files} files` : ''}` : '');
          out(`${d.status.padEnd(9)} ${d.path}  (${[size(d.old), size(d.new)].filter(Boolean).join(' -> ')})`);
          if (d.incomplete) out('          (file-level detail needs the trees: `trove fetch` them)');
          if (!d.files) continue;
          if (o.stat) {
            out(`          ${d.files.added.length} added, ${d.files.deleted.length} deleted, ${d.files.modified.length} modified, ${d.files.renamed.length} renamed`);
            continue;
          }
          for (const f of d.files.added) out(`    added:    ${f.path} (${humanBytes(f.size)})`);
          for (const f of d.files.deleted) out(`    deleted:  ${f.path} (${humanBytes(f.size)})`);
          for (const f of d.files.modified) out(`    modified: ${f.path} (${humanBytes(f.oldSize)} -> ${humanBytes(f.newSize)})`);
          for (const f of d.files.renamed) out(`    renamed:  ${f.from} -> ${f.to}`);
        }
      } finally {
        repo.close();
      }
    });
}

/** True when a diff operand names something on disk, a pointer, or a tracked path (at HEAD or in the workspace). */
async function isPathOperand(repo: Repo, a: string): Promise<boolean> {
  const { existsSync } = await import('node:fs');
  const { resolve } = await import('node:path');
  const abs = resolve(process.cwd(), a);
  if (existsSync(abs) || existsSync(abs.replace(/\/+$/, '') + '.trove')) return true;
  let rel: string;
  try {
    rel = repo.rel(a).replace(/\.trove$/, '');
  } catch {
    return false;
  }
  const { isWithin } = await import('../../core/paths.js');
  return (await repo.listTracked()).some((t) => isWithin(rel, t.path) || isWithin(t.path, rel));
}
