import type { Command } from 'commander';
import { TroveError } from '../../core/errors.js';
import { Repo } from '../../core/repo.js';
import { json, out } from '../render.js';

export function register(program: Command): void {
  program
    .command('config')
    .description('get or set configuration (.trove/config, or .trove/config.local with --local)')
    .argument('[key]', 'e.g. cache.link, core.remote, core.autostage')
    .argument('[value]', 'new value')
    .option('--local', 'write to .trove/config.local (this machine only, not committed)')
    .option('--unset', 'remove the key')
    .option('-l, --list', 'list all settings')
    .option('--json', 'print as JSON')
    .addHelpText('after', `
Examples:
  $ trove config cache.link hardlink     link files from the cache instead of copying
  $ trove config cache.dir /mnt/shared/trove-cache --local
  $ trove config core.autostage true     git add pointers after trove add
  $ trove config --list

Keys: core.remote, core.autostage, cache.dir, cache.link (reflink,copy | hardlink | symlink),
cache.jobs, gc.grace, gc.autoMerge (small packs that make add merge them; 0: never). Credentials are never stored here.`)
    .action(async (key: string | undefined, value: string | undefined, o: { local?: boolean; unset?: boolean; list?: boolean; json?: boolean }) => {
      const repo = await Repo.open();
      try {
        if (o.list || !key) {
          const rows = repo.configList();
          if (o.json) return json(Object.fromEntries(rows));
          for (const [k, v] of rows) out(`${k}=${Array.isArray(v) ? v.join(',') : String(v)}`);
          return;
        }
        if (o.unset) return await repo.configSet(key, undefined, { local: o.local });
        if (value !== undefined) return await repo.configSet(key, value, { local: o.local });
        const v = repo.configGet(key);
        if (v === undefined) throw new TroveError('CONFIG', `${key}: not set`);
        if (o.json) return json(v);
        out(Array.isArray(v) ? v.join(',') : typeof v === 'object' ? JSON.stringify(v) : String(v));
      } finally {
        repo.close();
      }
    });
}
