import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { pidIsAlive } from '../../src/core/pidAlive.js';
import { tempBeside, tempIn, writerPid } from '../../src/core/tempName.js';

describe('temp names and live pids', () => {
  it('tempBeside is hidden, in the same folder, unique, and names its writer', () => {
    const a = tempBeside('/r/.trove/status-index');
    const b = tempBeside('/r/.trove/status-index');
    expect(path.dirname(a)).toBe('/r/.trove');
    expect(path.basename(a)).toMatch(new RegExp(`^\\.status-index\\.${process.pid}\\.[0-9a-f]{12}\\.tmp$`));
    expect(a).not.toBe(b);
    expect(writerPid(path.basename(a))).toBe(process.pid);
  });

  it('tempIn starts with the pid (what the temp sweep reads)', () => {
    const t = tempIn('/r/.trove/tmp');
    expect(path.dirname(t)).toBe('/r/.trove/tmp');
    expect(writerPid(path.basename(t))).toBe(process.pid);
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
