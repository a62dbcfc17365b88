import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { fanoutFolders } from '../../src/core/store/fanout.js';

let dir = '';
afterEach(() => {
  if (dir) {
    chmodSync(dir, 0o755);
    rmSync(dir, { recursive: true, force: true });
  }
});

describe('fanoutFolders: the one listing of an `ab/cdef…` area', () => {
  it('lists each two-hex folder with its names, sorted on request; skips other entries and a file where a folder should be', () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'trove-fanout-'));
    for (const [fan, names] of [['ff', ['b', 'a']], ['0a', ['c']], ['zz', ['x']], ['abc', ['y']]] as const) {
      mkdirSync(path.join(dir, fan));
      for (const n of names) writeFileSync(path.join(dir, fan, n), '');
    }
    writeFileSync(path.join(dir, '12'), 'a file, not a folder');
    writeFileSync(path.join(dir, 'layout'), '');
    const got = [...fanoutFolders(dir, { sort: true })];
    expect(got.map((f) => [f.fan, f.names])).toEqual([['0a', ['c']], ['ff', ['a', 'b']]]);
    expect(got[1].dir).toBe(path.join(dir, 'ff'));
    expect([...fanoutFolders(path.join(dir, 'missing'))]).toEqual([]);
    expect([...fanoutFolders(path.join(dir, 'layout'))]).toEqual([]); // a file as the root: nothing stored there
  });

  it('an unreadable fan-out folder is an error, never a silently shorter listing', () => {
    // a fan-out entry that loops (ELOOP) cannot be read by anyone, root included (EACCES would not stop root)
    dir = mkdtempSync(path.join(os.tmpdir(), 'trove-fanout-'));
    mkdirSync(path.join(dir, 'aa'));
    writeFileSync(path.join(dir, 'aa', 'cd'), '');
    symlinkSync('ab', path.join(dir, 'ab'));
    expect(() => [...fanoutFolders(dir)]).toThrow(/ELOOP/);
  });
});
