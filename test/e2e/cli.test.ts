import { describe, expect, it } from 'vitest';
import { newRepo, tempDir, trove, write } from '../helpers/repo.js';

const COMMANDS = ['init', 'add', 'status', 'checkout', 'fsck', 'du', 'ls', 'remove', 'move', 'config', 'diff', 'log', 'install-hooks',
  'remote', 'push', 'fetch', 'pull', 'gc', 'run', 'runs', 'server', 'models', 'lineage', 'ui', 'reproduce', 'verify', 'import', 'update',
  'log-param', 'log-metric', 'log-tag', 'log-artifact', 'log-input'];

describe('the CLI feels like git', () => {
  it('lists every command in --help and exits 0', async () => {
    const r = await trove(tempDir(), '--help');
    expect(r.code).toBe(0);
    for (const c of COMMANDS) expect(r.stdout).toMatch(new RegExp(`^\\s+${c}\\b`, 'm'));
    expect(r.stdout).toContain('Examples:');
  });

  it.each(COMMANDS)('`trove %s --help` shows examples and exits 0', async (cmd) => {
    const r = await trove(tempDir(), cmd, '--help');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Examples/m);
    expect(r.stdout).toContain(`$ trove ${cmd}`);
  });

  it.each([
    [['frobnicate']],
    [['add']],
    [['add', '--no-such-flag', 'x']],
    [['move', 'only-one-arg']],
  ])('usage errors exit 2: %j', async (args) => {
    const dir = await newRepo();
    const r = await trove(dir, ...args);
    expect(r.code).toBe(2);
    expect(r.stderr.length).toBeGreaterThan(0);
  });

  it('errors exit 1 with "error:" and a hint; outside a repo says how to fix it', async () => {
    const r = await trove(tempDir(), 'status');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^error: not a trove repository/m);
    expect(r.stderr).toMatch(/^hint: .*trove init/m);
  });

  it('is quiet when all is well and -C runs elsewhere', async () => {
    const dir = await newRepo();
    await write(dir, 'm.bin', 'x');
    expect((await trove(dir, 'add', 'm.bin')).code).toBe(0);
    const r = await trove(tempDir(), '-C', dir, 'checkout');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe('');
  });

  it('--json output of reporting commands is valid JSON', async () => {
    const dir = await newRepo();
    await write(dir, 'data/a', 'a');
    for (const args of [['add', 'data'], ['status'], ['ls'], ['ls', 'data'], ['fsck'], ['checkout'], ['config', '--list'], ['init']]) {
      const r = await trove(dir, ...args, '--json');
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(0);
      expect(() => JSON.parse(r.stdout), args.join(' ')).not.toThrow();
    }
  });

  it('prints the git add line after add, and no progress bar when stderr is not a terminal', async () => {
    const dir = await newRepo();
    await write(dir, 'data/a', 'a');
    const r = await trove(dir, 'add', 'data');
    expect(r.stdout).toContain('git add data.trove .gitignore');
    expect(r.stderr).toBe('');
  });
});
