import type { Command } from 'commander';
import path from 'node:path';
import { Repo } from '../../core/repo.js';
import { json, out } from '../render.js';
import { UsageError } from '../usage.js';
import { table } from './runs.js';

const when = (ms: number) => new Date(ms).toISOString().replace('T', ' ').slice(0, 19);

async function withRegistry<T>(fn: (repo: Repo, reg: import('../../core/runs/registry.js').Registry) => Promise<T>): Promise<T> {
  const repo = await Repo.open();
  try {
    const { Registry } = await import('../../core/runs/registry.js');
    return await fn(repo, new Registry(path.join((await repo.runStore()).dir, 'registry')));
  } finally {
    repo.close();
  }
}

export function register(program: Command): void {
  const models = program.command('models').description('the model registry: registered models, numbered versions pinned to a run and an oid, aliases with history')
    .addHelpText('after', `
Examples:
  $ trove models list
  $ trove models register iris-classifier --run 01JD3Z8Q
  $ trove models alias iris-classifier champion 2
  $ trove models show iris-classifier --at 2026-03-01     which version each alias named then`);
  models.command('list').description('registered models with their latest version and aliases')
    .option('--json', 'print as JSON')
    .addHelpText('after', '\nExamples:\n  $ trove models list --json')
    .action(async (o: { json?: boolean }) => withRegistry(async (_repo, reg) => {
      const all = await reg.list();
      if (o.json) return json(all.map((m) => ({ name: m.name, versions: m.versions.length, aliases: m.aliases, updated: m.updated })));
      if (!all.length) return out('no registered models');
      out(table([['NAME', 'VERSIONS', 'ALIASES', 'UPDATED'], ...all.map((m) => [m.name, String(m.versions.length),
        Object.entries(m.aliases).map(([a, v]) => `${a}=${v}`).join(' ') || '-', when(m.updated)])]));
    }));
  models.command('show <name>').description('versions (run, oid, source), aliases and their history')
    .option('--at <date>', 'which version each alias pointed at, at this time (ISO date or date-time)')
    .option('--json', 'print as JSON')
    .addHelpText('after', '\nExamples:\n  $ trove models show iris-classifier\n  $ trove models show iris-classifier --at 2026-03-01T12:00:00Z')
    .action(async (name: string, o: { json?: boolean; at?: string }) => withRegistry(async (_repo, reg) => {
      const { aliasAt } = await import('../../core/runs/registry.js');
      const m = await reg.get(name);
      let at: Record<string, number | null> | undefined;
      if (o.at !== undefined) {
        const t = Date.parse(/^\d{4}-\d{2}-\d{2}$/.test(o.at) ? `${o.at}T23:59:59.999Z` : o.at);
        if (!Number.isFinite(t)) throw new UsageError(`--at ${JSON.stringify(o.at)}: not a date`);
        at = Object.fromEntries([...new Set(m.aliasHistory.map((h) => h.alias))].map((a) => [a, aliasAt(m, a, t)]));
      }
      if (o.json) return json({ ...m, ...(at ? { aliasesAt: at } : {}) });
      out(`${m.name}  (created ${when(m.created)})`);
      out(table([['VERSION', 'RUN', 'OID', 'SOURCE', 'ALIASES'], ...m.versions.map((v) => [String(v.version), v.runId ?? '-',
        v.oid ? v.oid.slice(7, 19) : '-', v.source, Object.keys(m.aliases).filter((a) => m.aliases[a] === v.version).join(' ') || '-'])]));
      if (m.aliasHistory.length) {
        out('\nalias moves:');
        for (const h of m.aliasHistory) out(`  ${when(h.at)}  ${h.alias} -> ${h.version ?? '(removed)'}`);
      }
      if (at) {
        out(`\naliases at ${o.at}:`);
        for (const [a, v] of Object.entries(at)) out(`  ${a} -> ${v ?? '(none)'}`);
      }
    }));
  models.command('register <name>').description('register a new version from a run (its logged model or an output) or a logged model')
    .option('--run <id>', 'the run that made the model')
    .option('--path <output>', "which of the run's outputs (default: its only logged model)")
    .option('--model <m-id>', 'a logged model id (m-…)')
    .option('--json', 'print as JSON')
    .addHelpText('after', '\nExamples:\n  $ trove models register iris-classifier --run 01JD3Z8Q\n  $ trove models register iris-classifier --run 01JD3Z8Q --path models/model.pkl\n  $ trove models register iris-classifier --model m-0fee350f01ec474f9195ed21e9046464')
    .action(async (name: string, o: { run?: string; path?: string; model?: string; json?: boolean }) => withRegistry(async (repo) => {
      if (!!o.run === !!o.model) throw new UsageError('give exactly one of --run <id> or --model <m-id>');
      const { registerVersion } = await import('../../core/runs/registry.js');
      const { version } = await registerVersion(repo, name, o.model ? { model: o.model } : { run: o.run!, path: o.path });
      if (o.json) return json({ name, ...version });
      out(`registered ${name} version ${version.version} (${version.source}, ${version.oid ?? 'no oid'})`);
    }));
  models.command('alias <name> <alias> [version]').description('point an alias at a version (the move is kept in the history); --delete removes it')
    .option('--delete', 'remove the alias')
    .option('--json', 'print as JSON')
    .addHelpText('after', '\nExamples:\n  $ trove models alias iris-classifier champion 3\n  $ trove models alias iris-classifier champion --delete')
    .action(async (name: string, alias: string, version: string | undefined, o: { delete?: boolean; json?: boolean }) => withRegistry(async (_repo, reg) => {
      if (!o.delete && (version === undefined || !/^\d+$/.test(version))) throw new UsageError('give the version number, or --delete');
      const m = await reg.setAlias(name, alias, o.delete ? null : Number(version));
      if (o.json) return json({ name, alias, version: m.aliases[alias] ?? null });
      out(o.delete ? `${name}: alias ${alias} removed` : `${name}: ${alias} -> version ${version}`);
    }));
}
