import { createRequire } from 'node:module';
import { TroveError, USAGE_CODES, isErrno } from '../core/errors.js';
import { err } from './render.js';
import { UsageError } from './usage.js';

/**
 * The CLI: wiring only. Each command lives in its own file and is imported when it runs, so that
 * `trove status` does not pay for loading the S3 SDK. One catch below maps errors to exit codes:
 * TroveError → "error: …" + hint, exit 1; usage → 2; anything else is a bug → stack, exit 1.
 */
export type Register = (program: Command) => void;

// commander through require, not import: for an ES import of a CommonJS package Node first scans
// its source for export names (~8 M instructions here, callgrind). Loaded only when the program is
// built: loading it and building the program measured ~45 M instructions, which the fast path of
// `trove status` (fastStatus below) does without.
type Command = import('commander').Command;
type Commander = typeof import('commander');
let commanderModule: Commander | undefined;
const commander = (): Commander => (commanderModule ??= createRequire(import.meta.url)('commander') as Commander);

const COMMANDS: Record<string, () => Promise<{ register: Register }>> = {
  init: () => import('./commands/init.js'),
  add: () => import('./commands/add.js'),
  status: () => import('./commands/status.js'),
  checkout: () => import('./commands/checkout.js'),
  fsck: () => import('./commands/fsck.js'),
  du: () => import('./commands/du.js'),
  ls: () => import('./commands/ls.js'),
  remove: () => import('./commands/remove.js'),
  move: () => import('./commands/move.js'),
  config: () => import('./commands/config.js'),
  diff: () => import('./commands/diff.js'),
  log: () => import('./commands/log.js'),
  'install-hooks': () => import('./commands/install-hooks.js'),
  remote: () => import('./commands/remote.js'),
  push: () => import('./commands/push.js'),
  fetch: () => import('./commands/fetch.js'),
  pull: () => import('./commands/pull.js'),
  gc: () => import('./commands/gc.js'),
  run: () => import('./commands/run.js'),
  runs: () => import('./commands/runs.js'),
  server: () => import('./commands/server.js'),
  models: () => import('./commands/models.js'),
  lineage: () => import('./commands/lineage.js'),
  ui: () => import('./commands/ui.js'),
  reproduce: () => import('./commands/reproduce.js'),
  verify: () => import('./commands/verify.js'),
  import: () => import('./commands/import.js'),
  update: () => import('./commands/update.js'),
  'log-param': async () => ({ register: (await import('./commands/log-event.js')).registerFor('param') }),
  'log-metric': async () => ({ register: (await import('./commands/log-event.js')).registerFor('metric') }),
  'log-tag': async () => ({ register: (await import('./commands/log-event.js')).registerFor('tag') }),
  'log-artifact': async () => ({ register: (await import('./commands/log-event.js')).registerFor('artifact') }),
  'log-input': async () => ({ register: (await import('./commands/log-event.js')).registerFor('input') }),
};

export { UsageError };

export async function main(argv: string[]): Promise<number> {
  // `trove ls data | head -3`: the reader went away. End quietly, as git does, instead of an
  // unhandled EPIPE with a stack trace. Nothing is half-written by this: every write that matters
  // is temp + rename, and a killed command is safe to re-run.
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (e) => {
      if (isErrno(e, 'EPIPE')) process.exit(0);
      throw e;
    });
  }
  const fast = fastStatus(argv.slice(2));
  if (fast) {
    try {
      const { runStatus } = await import('./commands/status.js');
      await runStatus([], fast);
      return Number(process.exitCode ?? 0);
    } catch (e) {
      return report(e);
    }
  }
  const { Command } = commander();
  const program = new Command('trove')
    .description('Version datasets and models beside git: content-addressed cache, pointer files, remotes, run lineage.')
    .version(await version(), '-V, --version')
    .option('-C <path>', 'run as if trove was started in <path>')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) })
    .addHelpText('after', `
Examples:
  $ trove init                      set up trove in this git repository
  $ trove add data/ models/model.pkl
  $ git add data.trove models/model.pkl.trove .gitignore && git commit -m "track data"
  $ trove status                    what changed since the pointers were written
  $ trove checkout                  make the workspace match the pointers

Run 'trove <command> --help' for a command's options and examples.`);
  program.hook('preAction', (cmd) => {
    const dir = cmd.optsWithGlobals().C as string | undefined;
    if (dir) process.chdir(dir);
  });

  // Register only the command that is asked for (or all of them for help).
  const name = argv.slice(2).find((a, i, arr) => !a.startsWith('-') && arr[i - 1] !== '-C');
  // `trove --version` needs none of them (loading all cost more than a whole `trove status`)
  const versionOnly = !name && argv.slice(2).some((a) => a === '-V' || a === '--version');
  const wanted = name && COMMANDS[name] ? [name] : versionOnly ? [] : Object.keys(COMMANDS);
  for (const n of wanted) (await COMMANDS[n]()).register(program);
  for (const cmd of program.commands) cmd.exitOverride();

  try {
    await program.parseAsync(argv);
    return Number(process.exitCode ?? 0);
  } catch (e) {
    return report(e);
  }
}

export function report(e: unknown): number {
  if (commanderModule && e instanceof commanderModule.CommanderError) {
    if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help') return 0;
    return 2;
  }
  if (e instanceof UsageError) {
    err(`error: ${e.message}`);
    return 2;
  }
  if (e instanceof TroveError) {
    err(`error: ${e.message}`);
    if (e.hint) err(`hint: ${e.hint}`);
    if (process.env.TROVE_DEBUG && e.cause) err(String((e.cause as Error).stack ?? e.cause));
    return USAGE_CODES.has(e.code) ? 2 : 1;
  }
  const ex = e as NodeJS.ErrnoException;
  if (ex && typeof ex.code === 'string' && ex.syscall) {
    // A system error that core did not anticipate: still say which file, plainly.
    err(`error: ${ex.message}`);
    return 1;
  }
  err(`trove: internal error: ${(e as Error)?.stack ?? String(e)}`);
  err('This is a bug in trove. Please report it with the command you ran and the output above.');
  return 1;
}

async function version(): Promise<string> {
  const { readFile } = await import('node:fs/promises');
  const pkg = JSON.parse(await readFile(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

/**
 * `trove status` and `trove status --json`, exactly so (no path, no other flag): the same action as
 * the registered command (commands/status.ts runStatus), run without commander, which was ~4% of a
 * 20,000-file status. Anything else on the line (help, -C, --remote, paths, a typo) takes the
 * ordinary path, so commander still parses and rejects it as before.
 */
function fastStatus(args: string[]): { json: boolean } | null {
  if (args[0] !== 'status' || args.length > 2) return null;
  if (args.length === 1) return { json: false };
  return args[1] === '--json' ? { json: true } : null;
}
