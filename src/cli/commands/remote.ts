import type { Command } from 'commander';
import { addRemote, describeRemotes, modifyRemote, removeRemote, setDefaultRemote } from '../../core/remoteConfig.js';
import { Repo } from '../../core/repo.js';
import { json, out } from '../render.js';
import { UsageError } from '../usage.js';

/** `-o key=value` (repeatable) → options. */
function collect(v: string, prev: Record<string, string> = {}): Record<string, string> {
  const eq = v.indexOf('=');
  if (eq < 1) throw new UsageError(`-o expects key=value, got ${JSON.stringify(v)}`);
  return { ...prev, [v.slice(0, eq)]: v.slice(eq + 1) };
}

export function register(program: Command): void {
  const remote = program
    .command('remote')
    .description('configure remotes: where objects are shared (a folder, or s3://bucket/prefix)')
    .addHelpText('after', `
Examples:
  $ trove remote add origin s3://my-bucket/team/data
  $ trove remote add origin s3://bkt/data -o endpoint=https://minio.example.com -o path_style=true
  $ trove remote add backup /mnt/nas/trove          a folder (relative paths are kept relative to the repo)
  $ trove remote modify origin region eu-west-1
  $ trove remote default backup
  $ trove remote list

S3 options: endpoint, region, profile, path_style, sse (AES256 | aws:kms), sse_kms_key_id,
storage_class, part_size, multipart_threshold, max_attempts, retry_mode; jobs (objects in flight).
Credentials come only from the AWS default chain (environment, ~/.aws, SSO, instance roles);
trove refuses to store anything that looks like a secret.`);

  remote.command('add')
    .description('add a remote (the first one becomes the default)')
    .argument('<name>').argument('<url>', 's3://bucket/prefix, file:///path or a folder path')
    .option('-o, --option <key=value>', 'an option (repeatable)', collect)
    .option('-d, --default', 'make it the default remote')
    .option('-f, --force', 'replace a remote of the same name')
    .option('--local', 'write to .trove/config.local (this machine only)')
    .addHelpText('after', `
Examples:
  $ trove remote add origin s3://my-bucket/team/data
  $ trove remote add minio s3://bkt/data -o endpoint=http://127.0.0.1:9000 -o path_style=true
  $ trove remote add nas /mnt/nas/trove --local`)
    .action(async (name: string, url: string, o: { option?: Record<string, string>; default?: boolean; force?: boolean; local?: boolean }) => {
      const repo = await Repo.open();
      try {
        const spec = await addRemote(repo, name, url, { options: o.option, makeDefault: o.default, force: o.force, local: o.local });
        out(`added remote ${spec.name}: ${spec.url}${spec.isDefault ? ' (default)' : ''}`);
        if (!o.local) {
          // the remote lives in the committed config: teammates get it with the next commit
          if (repo.autostage()) await repo.git.add(['.trove/config']);
          else out('\nTo share it with everyone who clones the repo, run:\n\n\tgit add .trove/config && git commit -m "add trove remote"');
        }
      } finally {
        repo.close();
      }
    });

  remote.command('list')
    .description('list remotes')
    .option('--json', 'print as JSON')
    .action(async (o: { json?: boolean }) => {
      const repo = await Repo.open();
      try {
        const all = await describeRemotes(repo);
        if (o.json) return json(all);
        if (!all.length) return out('No remotes. Add one with `trove remote add origin s3://bucket/prefix`.');
        for (const r of all) {
          const opts = Object.entries({ ...r.options, ...(r.jobs ? { jobs: r.jobs } : {}) }).map(([k, v]) => `${k}=${String(v)}`).join(' ');
          out(`${r.isDefault ? '*' : ' '} ${r.name}\t${r.url}${opts ? `\t${opts}` : ''}${r.source === 'config.local' ? '\t(local)' : ''}`);
        }
      } finally {
        repo.close();
      }
    });

  remote.command('remove')
    .description('remove a remote from config (its data is not touched)')
    .argument('<name>')
    .action(async (name: string) => {
      const repo = await Repo.open();
      try {
        await removeRemote(repo, name);
        out(`removed remote ${name}`);
      } finally {
        repo.close();
      }
    });

  remote.command('default')
    .description('set (or show) the default remote')
    .argument('[name]')
    .option('--local', 'write to .trove/config.local')
    .action(async (name: string | undefined, o: { local?: boolean }) => {
      const repo = await Repo.open();
      try {
        if (!name) {
          const d = (await describeRemotes(repo)).find((r) => r.isDefault);
          return out(d ? d.name : '(no default remote)');
        }
        await setDefaultRemote(repo, name, o);
        out(`default remote: ${name}`);
      } finally {
        repo.close();
      }
    });

  remote.command('modify')
    .description('set one option of a remote (or its url)')
    .argument('<name>').argument('<key>').argument('[value]')
    .option('--unset', 'remove the option')
    .option('--local', 'write to .trove/config.local')
    .action(async (name: string, key: string, value: string | undefined, o: { unset?: boolean; local?: boolean }) => {
      if (value === undefined && !o.unset) throw new UsageError('remote modify: give a value, or --unset');
      const repo = await Repo.open();
      try {
        await modifyRemote(repo, name, key, o.unset ? undefined : value, o);
        out(o.unset ? `${name}: unset ${key}` : `${name}: ${key} = ${value}`);
      } finally {
        repo.close();
      }
    });
}
