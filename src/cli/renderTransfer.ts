import type { Command } from 'commander';
import { TroveError } from '../core/errors.js';
import { shortOid } from '../core/oid.js';
import type { TransferResult } from '../core/transfer.js';
import { err, humanBytes, out, plural } from './render.js';

/** Options shared by push, fetch and pull. */
export function transferOptions(cmd: Command): Command {
  return cmd
    .option('-r, --remote <name>', 'remote to use (default: core.remote)')
    .option('-j, --jobs <n>', 'objects transferred in parallel (default: the remote\'s jobs, else 16)', toJobs)
    .option('--all-branches', 'also the objects that every branch\'s pointers name')
    .option('--all-tags', 'also the objects that every tag\'s pointers name')
    .option('--all-commits', 'also the objects that every commit\'s pointers name')
    .option('--rev <rev>', 'also the objects that this revision\'s pointers name (repeatable)', (v: string, acc: string[] = []) => [...acc, v])
    .option('--json', 'print the result as JSON');
}

export interface TransferCliOptions {
  remote?: string;
  jobs?: number;
  allBranches?: boolean;
  allTags?: boolean;
  allCommits?: boolean;
  rev?: string[];
  json?: boolean;
}

function toJobs(v: string): number {
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 1 || n > 1024) throw new TroveError('BAD_ARGS', `--jobs: expected a whole number from 1 to 1024, got ${JSON.stringify(v)}`);
  return n;
}

/** A summary in words; warnings for bad pointers at old revisions. */
export function renderTransfer(verb: 'pushed' | 'fetched', r: TransferResult): void {
  // quiet when all is well, as git is: one line when nothing had to move
  const recordsMoved = r.records?.transferred ?? 0;
  const elsewhere = () => {
    const e = r.elsewhere ?? [];
    if (!e.length) return;
    err(`note: ${plural(e.length, 'version')} that other branches or tags name ${e.length === 1 ? 'is' : 'are'} not on ${r.remote}: ${e.slice(0, 5).map((x) => x.where).join(', ')}${e.length > 5 ? ', …' : ''}`);
    err('hint: `trove push --all-branches --all-tags` uploads them too, so that teammates can check them out');
  };
  if (!r.transferred && !recordsMoved && !r.missing.length && !r.failed.length && !r.badPointers.length) {
    out(verb === 'pushed' ? `Everything up-to-date on ${r.remote}.` : `Nothing to fetch from ${r.remote}: the cache has everything.`);
    elsewhere();
    return;
  }
  const parts = [`${verb} ${plural(r.transferred, 'object')} (${humanBytes(r.transferredBytes)}) ${verb === 'pushed' ? 'to' : 'from'} ${r.remote}`];
  if (r.skipped) parts.push(`${r.skipped} already ${verb === 'pushed' ? 'there' : 'in the cache'}`);
  if (r.missing.length) parts.push(`${r.missing.length} missing`);
  if (r.failed.length) parts.push(`${r.failed.length} failed`);
  out(parts.join(', '));
  if (r.records && (r.records.transferred || (r.records as { rejected?: unknown[] }).rejected?.length)) out(`run records: ${r.records.transferred} ${verb}, ${r.records.skipped} already there`);
  for (const x of ((r.records as { rejected?: { key: string; error: string }[] } | undefined)?.rejected ?? []).slice(0, 10)) err(`warning: refused run record ${x.key}: ${x.error}`);
  for (const b of r.badPointers.slice(0, 10)) err(`warning: skipped a bad pointer: ${b.message}`);
  if (r.badPointers.length > 10) err(`warning: … and ${r.badPointers.length - 10} more bad pointers`);
  elsewhere();
}

/** Exit 1 (with the objects named) when anything is missing or failed. */
export function failIfIncomplete(verb: 'push' | 'fetch', r: TransferResult): void {
  const lines: string[] = [];
  for (const m of r.missing.slice(0, 10)) lines.push(`${m.where} (${shortOid(m.oid)})`);
  for (const f of r.failed.slice(0, 10)) lines.push(`${f.where}: ${f.error}`);
  const n = r.missing.length + r.failed.length;
  if (!n) return;
  const where = verb === 'push' ? 'the cache (and the remote)' : `remote "${r.remote}"`;
  const head = r.missing.length && !r.failed.length ? `${plural(r.missing.length, 'object')} not in ${where}` : `${plural(n, 'object')} could not be ${verb === 'push' ? 'pushed' : 'fetched'}`;
  throw new TroveError(r.failed.some((f) => f.code === 'INTEGRITY') ? 'INTEGRITY' : r.missing.length && !r.failed.length ? 'MISSING_OBJECT' : 'REMOTE',
    `${head}:\n  ${lines.join('\n  ')}${n > 10 ? '\n  …' : ''}`,
    verb === 'push'
      ? r.failed.some((f) => f.code === 'INTEGRITY')
        ? 'corrupt local objects were moved to .trove/cache/quarantine and nothing of them was uploaded: re-add the data (`trove add <path>`) or `trove fetch` it from another remote, then push again'
        : 'missing objects are not in this cache: `trove fetch` them from another remote, or re-add the data'
      : 'run the command again for transient errors; a corrupt object on the remote must be pushed again from a good copy');
}
