import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { pidIsAlive } from '../../src/core/pidAlive.js';
import { LooseStore } from '../../src/core/store/loose.js';
import { tempBeside, tempIn, writerPid } from '../../src/core/tempName.js';

describe('temp names and live pids', () => {
  it('tempBeside is hidden, in the same folder, unique, and names its writer', () => {
    const a = tempBeside('/r/.trove/status-index');
    const b = tempBeside('/r/.trove/status-index');
    expect(path.dirname(a)).toBe('/r/.trove');
    expect(path.basename(a)).toMatch(new RegExp(`^\\.status-index\\.${process.pid}\\.[0-9a-f]{9,}\\.tmp$`));
    expect(a).not.toBe(b);
    expect(writerPid(path.basename(a))).toBe(process.pid);
  });

  it('tempIn starts with the pid (what the temp sweep reads) and the tag; unique without a random draw each', () => {
    const t = tempIn('/r/.trove/tmp', 'pack');
    expect(path.dirname(t)).toBe('/r/.trove/tmp');
    expect(path.basename(t)).toMatch(new RegExp(`^${process.pid}-pack-[0-9a-f]{9,}$`));
    expect(writerPid(path.basename(t))).toBe(process.pid);
    const many = new Set(Array.from({ length: 1000 }, () => tempIn('/d', 's')));
    expect(many.size).toBe(1000);
  });

  it('another process (even one given the same pid) draws other names', () => {
    // dist/ (built by `npx tsc`, as for the CLI tests): the same module in a fresh process
    const script = `import { tempIn } from ${JSON.stringify(path.resolve(__dirname, '../../dist/core/tempName.js'))}; console.log(tempIn('/d', 's'))`;
    const a = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
    const b = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
    expect(a.status, a.stderr).toBe(0);
    // the part after the pid differs: names do not depend on the pid alone
    const tail = (s: string) => s.trim().replace(/^\/d\/\d+-/, '');
    expect(tail(a.stdout)).not.toBe(tail(b.stdout));
  });

  it('the cache sweep removes dead writers\' temp files under every name this and earlier versions used, and keeps live ones', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'trove-tempname-'));
    try {
      const tmp = path.join(dir, 'tmp');
      mkdirSync(tmp);
      const dead = spawnSync(process.execPath, ['-e', '0']).pid!;
      const old = [`${dead}-a1b2c3-7`, `${dead}-s-12`, `${dead}-m-3`, `${dead}-pack-0a1b2c-4`, `${dead}-c-9`, `${dead}-0123456789abcdef`];
      const fresh = [path.basename(tempIn(tmp, 's')).replace(/^\d+/, String(dead))];
      const live = [path.basename(tempIn(tmp, 's')), path.basename(tempIn(tmp, 'pack'))];
      for (const n of [...old, ...fresh, ...live, 'notatemp']) writeFileSync(path.join(tmp, n), 'x');
      const store = new LooseStore(path.join(dir, 'cache'), tmp);
      expect(await store.cleanStaleTemp()).toBe(old.length + fresh.length);
      expect(readdirSync(tmp).sort()).toEqual([...live, 'notatemp'].sort());
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it.each([['12-abc', 12], ['.x.trove.77.0a1b.tmp', 77], ['0-abc', null], ['abc', null], ['.x.tmp', null], ['.x.notapid.ab.tmp', null]])('writerPid(%s) = %s', (name, pid) => {
    expect(writerPid(name)).toBe(pid);
  });

  it('pidIsAlive: this process yes, an exited child no, impossible pids no', () => {
    expect(pidIsAlive(process.pid)).toBe(true);
    const child = spawnSync(process.execPath, ['-e', '0']);
    expect(child.status).toBe(0);
    expect(pidIsAlive(child.pid!)).toBe(false); // reaped by spawnSync: ESRCH (pid reuse within the test is vanishingly unlikely)
    expect(pidIsAlive(0)).toBe(false);
    expect(pidIsAlive(-1)).toBe(false);
    expect(pidIsAlive(1.5)).toBe(false);
  });
});
