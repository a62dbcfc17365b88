import { mkdir, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { isTroveError } from '../../src/core/errors.js';
import { FsRemote } from '../../src/remotes/fs.js';
import { openRemote } from '../../src/remotes/index.js';
import { fromFile, randomFile, readAll, tempDir } from '../helpers/files.js';
import { remoteContract } from './contract.js';

remoteContract('fs', {
  async open() {
    const dir = await tempDir();
    return openRemote('origin', path.join(dir, 'remote'), {});
  },
});

async function tree(dir: string): Promise<string[]> {
  return (await readdir(dir, { recursive: true })).map(String).sort();
}

describe('fs remote', () => {
  it('never writes outside its root, whatever the key', async () => {
    const parent = await tempDir();
    const root = path.join(parent, 'remote');
    const remote = new FsRemote('origin', root);
    const file = path.join(parent, 'src.bin');
    await randomFile(file, 100);
    await remote.put('objects/ok', fromFile(file), 100);
    const before = await tree(parent);
    for (const key of ['../x', '/abs', 'a/../../b', '../remote2/x', 'tmp/x', '..']) {
      await expect(remote.put(key, fromFile(file), 100)).rejects.toMatchObject({ code: 'REMOTE' });
      await expect(remote.putBytes(key, 'x')).rejects.toMatchObject({ code: 'REMOTE' });
      await expect(remote.delete([key])).rejects.toMatchObject({ code: 'REMOTE' });
    }
    expect(await tree(parent)).toEqual(before);
  });

  it('a put killed midway leaves no visible object, and a later put succeeds', async () => {
    const dir = await tempDir();
    const root = path.join(dir, 'remote');
    const remote = new FsRemote('origin', root);
    // The state a kill -9 during a copy leaves: a truncated temp file and no object.
    await mkdir(path.join(root, 'tmp'), { recursive: true });
    await writeFile(path.join(root, 'tmp', '1234-deadbeef'), Buffer.alloc(1000, 1));
    const keys = [];
    for await (const e of remote.list('')) keys.push(e.key);
    expect(keys).toEqual([]);
    expect(await remote.stat('objects/sha256/ab/cd')).toBeNull();

    const file = path.join(dir, 'src.bin');
    await randomFile(file, 4096);
    await remote.put('objects/sha256/ab/cd', fromFile(file), 4096);
    expect(await remote.stat('objects/sha256/ab/cd')).toEqual({ size: 4096 });
    // Only the stranger's temp file remains in tmp/; ours was removed in `finally`.
    expect(await readdir(path.join(root, 'tmp'))).toEqual(['1234-deadbeef']);
  });

  it('an aborted put is ABORTED, leaves no object and no temp file', async () => {
    const dir = await tempDir();
    const root = path.join(dir, 'remote');
    const remote = new FsRemote('origin', root);
    const file = path.join(dir, 'src.bin');
    await randomFile(file, 8 * 1024 * 1024);
    const ac = new AbortController();
    const p = remote.put('objects/big', fromFile(file), 8 * 1024 * 1024, { signal: ac.signal, onBytes: () => ac.abort() });
    await expect(p).rejects.toMatchObject({ code: 'ABORTED' });
    expect(await remote.stat('objects/big')).toBeNull();
    expect(await readdir(path.join(root, 'tmp'))).toEqual([]);
  });

  it('a file that is not the promised size is INTEGRITY, not a wrong object', async () => {
    const dir = await tempDir();
    const remote = new FsRemote('origin', path.join(dir, 'remote'));
    const file = path.join(dir, 'src.bin');
    await randomFile(file, 100);
    await expect(remote.put('objects/x', fromFile(file), 99)).rejects.toMatchObject({ code: 'INTEGRITY' });
    expect(await remote.stat('objects/x')).toBeNull();
  });

  it('a missing root lists nothing, stats null, and is created by put; file:// urls work', async () => {
    const dir = await tempDir();
    const root = path.join(dir, 'not', 'yet');
    const remote = openRemote('origin', pathToFileURL(root).href, {});
    expect(remote.url).toBe(root);
    const keys = [];
    for await (const e of remote.list('objects/')) keys.push(e);
    expect(keys).toEqual([]);
    expect(await remote.stat('objects/a')).toBeNull();
    await remote.putBytes('runs/1.json', '{}');
    expect((await readAll(await remote.get('runs/1.json'))).toString()).toBe('{}');
  });

  it('get of a folder is NOT_FOUND', async () => {
    const dir = await tempDir();
    const remote = new FsRemote('origin', dir);
    await remote.putBytes('objects/sha256/ab/x', 'x');
    const err = await remote.get('objects/sha256/ab').catch((e: unknown) => e);
    expect(isTroveError(err, 'NOT_FOUND')).toBe(true);
  });
});
