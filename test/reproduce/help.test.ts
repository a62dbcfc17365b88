import { describe, expect, it } from 'vitest';
import { tempDir, trove } from '../helpers/repo.js';

const COMMANDS = [['reproduce'], ['verify'], ['import'], ['update'], ['runs', 'export'], ['runs', 'list']];

describe('help for reproduce, verify, import, update, runs export', () => {
  it('every new command is listed in `trove --help`', async () => {
    const r = await trove(tempDir(), '--help');
    expect(r.code).toBe(0);
    for (const c of ['reproduce', 'verify', 'import', 'update']) expect(r.stdout).toMatch(new RegExp(`^\\s+${c}\\b`, 'm'));
  });
  it.each(COMMANDS)('`trove %s --help` shows examples and exits 0', async (...cmd) => {
    const r = await trove(tempDir(), ...cmd.filter((x): x is string => typeof x === 'string'), '--help');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Examples/m);
  });
  it('runs list --help offers --stale and --at; usage errors exit 2', async () => {
    expect((await trove(tempDir(), 'runs', 'list', '--help')).stdout).toMatch(/--stale[\s\S]*--at <rev>/);
    expect((await trove(tempDir(), 'reproduce')).code).toBe(2);
    expect((await trove(tempDir(), 'import', 'only-one-arg')).code).toBe(2);
  });
});
