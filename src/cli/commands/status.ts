import type { Command } from 'commander';
import { Repo, type StatusEntry } from '../../core/repo.js';
import type { RemoteStatusEntry } from '../../core/transfer.js';
import { humanBytes, json, out, plural } from '../render.js';

export function register(program: Command): void {
  program
    .command('status')
    .description('show how the workspace differs from the pointers')
    .argument('[paths...]', 'tracked paths (default: all)')
    .option('--json', 'print the result as JSON')
    .option('--remote [name]', 'compare with a remote instead (default remote when no name): in sync, not pushed, missing')
    .addHelpText('after', `
Examples:
  $ trove status
  $ trove status data/ --json
  $ trove status --remote            what the default remote lacks, per pointer

States: unchanged, modified (with the files added / modified / deleted inside folders),
missing (not in the workspace), and "not in cache" when the pointer's object is not local.
Exit code 0 whenever the status could be computed.`)
    .action(runStatus);
}

/** The command's action; main.ts also calls it directly for a bare `trove status [--json]`. */
export async function runStatus(paths: string[], o: { json?: boolean; remote?: string | boolean }): Promise<void> {
  const repo = await Repo.open();
  try {
    if (o.remote !== undefined) {
      const r = await (await import('../../core/transfer.js')).remoteStatus(repo, { paths, remote: typeof o.remote === 'string' ? o.remote : undefined });
      if (o.json) return json(r);
      return renderRemote(r.remote, r.entries);
    }
    const st = await repo.status(paths);
    if (o.json) return json(st);
    render(st);
  } finally {
    repo.close();
  }
}

function render(st: StatusEntry[]): void {
  if (!st.length) return out('No tracked data. Track some with `trove add <path>`.');
  const changed = st.filter((s) => s.workspace !== 'unchanged' || s.cache === 'missing');
  if (!changed.length) return out(`Everything is up to date (${st.length} tracked ${st.length === 1 ? 'path' : 'paths'}).`);
  for (const s of changed) {
    const notes: string[] = [];
    if (s.workspace === 'modified') notes.push('modified');
    if (s.workspace === 'missing') notes.push('missing from workspace');
    if (s.workspace === 'conflict') notes.push(`merge conflict in ${s.pointerFile}: ours ${s.conflict?.ours ?? 'unreadable'}, theirs ${s.conflict?.theirs ?? 'unreadable'}`);
    if (s.cache === 'missing') notes.push('not in cache');
    out(`${s.path}: ${notes.join(', ')}`);
    if (s.workspace === 'conflict') out(`\tkeep one side with its data: \`trove checkout --ours ${s.path}\` or \`trove checkout --theirs ${s.path}\``);
    if (s.changes) {
      for (const p of s.changes.added) out(`\tadded:    ${p}`);
      for (const p of s.changes.modified) out(`\tmodified: ${p}`);
      for (const p of s.changes.deleted) out(`\tdeleted:  ${p}`);
    }
    const lost = s.missingObjects ?? [];
    for (const p of lost.slice(0, 20)) out(`\tnot in cache: ${p}`);
    if (lost.length > 20) out(`\t… and ${lost.length - 20} more not in the cache (\`trove status --json\` lists them all)`);
  }
  const hints: string[] = [];
  if (changed.some((s) => s.workspace === 'modified')) hints.push('`trove add <path>` to record changes, `trove checkout --force <path>` to discard them');
  if (changed.some((s) => s.workspace === 'missing')) hints.push('`trove checkout` to restore missing data');
  if (changed.some((s) => s.cache === 'missing')) hints.push('`trove pull` to fetch what is not in the cache');
  if (changed.some((s) => s.workspace === 'conflict')) hints.push('`git add <pointer>` once a conflict is resolved');
  if (hints.length) out(`\n(use ${hints.join('; ')})`);
}

function renderRemote(remote: string, entries: RemoteStatusEntry[]): void {
  if (!entries.length) return out('No tracked data.');
  for (const e of entries) {
    if (e.state === 'in-sync') out(`${e.path}: in sync with ${remote}`);
    else if (e.state === 'not-pushed') out(`${e.path}: not pushed (${plural(e.objects, 'object')}, ${humanBytes(e.bytes)})`);
    else out(`${e.path}: missing everywhere (${plural(e.missing, 'object')} neither in the cache nor on ${remote})${e.objects ? `; ${plural(e.objects, 'object')} not pushed` : ''}`);
  }
  if (entries.some((e) => e.state === 'not-pushed')) out(`\n(use \`trove push\` to upload what ${remote} lacks)`);
}
