import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { hashBytes, type Oid } from '../../src/core/oid.js';
import { PackedObjects } from '../../src/core/store/packed.js';
import { PackIndex } from '../../src/core/store/packIndex.js';
import { readAll, tempDir } from '../helpers/files.js';

async function store(targetBytes?: number) {
  const dir = await tempDir();
  return { dir, make: () => new PackedObjects(path.join(dir, 'cache'), path.join(dir, 'tmp'), targetBytes) };
}
const packsOf = (dir: string) => readdirSync(path.join(dir, 'cache/packs')).sort();
const idxCount = (dir: string) => packsOf(dir).filter((n) => n.endsWith('.idx')).length;

function fill(p: PackedObjects, n: number, size = 100): { oid: Oid; body: Buffer }[] {
  return Array.from({ length: n }, () => {
    const body = randomBytes(size);
    const { oid, stored } = p.put(body, 'blob');
    expect(stored).toBe(true);
    return { oid, body };
  });
}

describe('packed objects (real files)', () => {
  it('objects are readable at once by their writer, by others only once sealed; kinds are separate', async () => {
    const { dir, make } = await store();
    const a = make();
    const objs = fill(a, 50);
    const treeBytes = Buffer.from('{"version":1,"entries":[]}');
    a.put(treeBytes, 'tree');
    expect(a.read(objs[3].oid, 'blob').equals(objs[3].body)).toBe(true);
    const other = make();
    expect(other.has(objs[3].oid, 'blob')).toBe(false); // pending: invisible to another process
    expect(existsSync(path.join(dir, 'cache/packs'))).toBe(true);
    expect(idxCount(dir)).toBe(0);
    await a.seal();
    expect(idxCount(dir)).toBe(1);
    const b = make();
    for (const o of objs) expect(b.read(o.oid, 'blob').equals(o.body)).toBe(true);
    expect((await readAll(b.open(objs[0].oid, 'blob'))).equals(objs[0].body)).toBe(true);
    expect(b.has(hashBytes(treeBytes), 'tree')).toBe(true);
    expect(b.has(hashBytes(treeBytes), 'blob')).toBe(false);
    expect(() => b.read(hashBytes(treeBytes), 'blob')).toThrow(expect.objectContaining({ code: 'MISSING_OBJECT' }));
    // the same bytes can be stored under the other kind too
    expect(b.put(treeBytes, 'blob').stored).toBe(true);
    expect(b.put(objs[0].body, 'blob').stored).toBe(false);
    await b.seal();
    const listed = [...make().list()];
    expect(listed).toHaveLength(52);
    expect(listed.filter((x) => x.oid === hashBytes(treeBytes)).map((x) => x.kind).sort()).toEqual(['blob', 'tree']);
    // nothing left in tmp
    expect(readdirSync(path.join(dir, 'tmp'))).toEqual([]);
  });

  it('a full pending pack is sealed on its own: a few packs, not one file per object', async () => {
    const { dir, make } = await store(64 << 10);
    const a = make();
    const objs = fill(a, 1000, 1000); // ~1 MB in 64 KiB packs
    await a.seal();
    const n = idxCount(dir);
    expect(n).toBeGreaterThanOrEqual(15);
    expect(n).toBeLessThanOrEqual(17);
    const b = make();
    for (const o of objs) expect(b.has(o.oid, 'blob')).toBe(true);
  });

  it('a writer killed before sealing leaves only a temp file; nothing is visible', async () => {
    const { dir, make } = await store();
    const a = make();
    fill(a, 10);
    // what kill -9 leaves: the pending temp pack, no seal (the exit hook does not run)
    const tmp = readdirSync(path.join(dir, 'tmp'));
    expect(tmp).toHaveLength(1);
    expect(tmp[0]).toMatch(new RegExp(`^${process.pid}-pack-`));
    expect([...make().list()]).toHaveLength(0);
    await a.seal();
  });

  it('gc: a pack is rewritten once its garbage share is reached, kept below it, removed when all garbage', async () => {
    const { dir, make } = await store();
    const a = make();
    const objs = fill(a, 100, 1000);
    await a.seal();
    const [oldIdx] = packsOf(dir).filter((n) => n.endsWith('.idx'));
    // a reader that loaded the old index before the rewrite
    const reader = make();
    expect(reader.has(objs[99].oid, 'blob')).toBe(true);
    // 10 % garbage: below the share, kept (still valid objects)
    let r = await a.applyDeletes(objs.slice(0, 10).map((o) => ({ oid: o.oid, kind: 'blob' as const })));
    expect(r).toEqual({ rewritten: 0, removed: 0, kept: 10 });
    expect(packsOf(dir)).toContain(oldIdx);
    // 30 %: rewritten without them
    r = await a.applyDeletes(objs.slice(0, 30).map((o) => ({ oid: o.oid, kind: 'blob' as const })));
    expect(r).toEqual({ rewritten: 1, removed: 30, kept: 0 });
    expect(packsOf(dir)).not.toContain(oldIdx);
    expect(idxCount(dir)).toBe(1);
    const fresh = make();
    for (const o of objs.slice(0, 30)) expect(fresh.has(o.oid, 'blob')).toBe(false);
    for (const o of objs.slice(30)) expect(fresh.read(o.oid, 'blob').equals(o.body)).toBe(true);
    // the stale reader finds survivors in the new pack (its old pack vanished: it reloads once)
    expect(reader.read(objs[99].oid, 'blob').equals(objs[99].body)).toBe(true);
    // everything garbage: the pack goes
    await a.applyDeletes(objs.map((o) => ({ oid: o.oid, kind: 'blob' as const })));
    expect(packsOf(dir)).toEqual([]);
  });

  it('deletes queued in a batch are applied once at its end', async () => {
    const { dir, make } = await store();
    const a = make();
    const objs = fill(a, 20, 1000);
    await a.seal();
    await a.batchRemovals(async () => {
      for (const o of objs.slice(0, 15)) await a.delete([{ oid: o.oid, kind: 'blob' }]);
      expect(idxCount(dir)).toBe(1);
      expect(make().has(objs[0].oid, 'blob')).toBe(true); // nothing applied yet
    });
    const b = make();
    expect(b.has(objs[0].oid, 'blob')).toBe(false);
    expect(b.has(objs[19].oid, 'blob')).toBe(true);
  });

  it('a corrupt packed object: verify fails, quarantine keeps every good object', async () => {
    const { dir, make } = await store();
    const a = make();
    const objs = fill(a, 5, 500);
    await a.seal();
    const packFile = path.join(dir, 'cache/packs', packsOf(dir).find((n) => n.endsWith('.pack'))!);
    const idx = PackIndex.parse(readFileSync(packFile.replace(/\.pack$/, '.idx')), 'i');
    const e = idx.find(objs[2].oid)!;
    chmodSync(packFile, 0o644);
    const b = readFileSync(packFile);
    b[e.offset] ^= 1;
    writeFileSync(packFile, b);
    const p = make();
    expect(() => p.read(objs[2].oid, 'blob')).toThrow(expect.objectContaining({ code: 'INTEGRITY' }));
    expect(p.verify(objs[2].oid, 'blob')).toBe(false);
    expect(p.verify(objs[1].oid, 'blob')).toBe(true);
    const to = await p.quarantine(objs[2].oid, 'blob');
    expect(readFileSync(to).length).toBe(500);
    const q = make();
    expect(q.has(objs[2].oid, 'blob')).toBe(false);
    for (const i of [0, 1, 3, 4]) expect(q.read(objs[i].oid, 'blob').equals(objs[i].body)).toBe(true);
    expect(existsSync(packFile)).toBe(false);
  });
});

describe('checkPacks (fsck)', () => {
  async function sealedPack() {
    const { dir, make } = await store();
    const a = make();
    const objs = fill(a, 6, 300);
    await a.seal();
    const id = packsOf(dir)[0].slice(0, 64);
    return { dir, make, objs, packFile: path.join(dir, `cache/packs/${id}.pack`), idxFile: path.join(dir, `cache/packs/${id}.idx`) };
  }

  it('an intact store: nothing to report', async () => {
    const { make } = await sealedPack();
    const c = await make().checkPacks();
    expect(c).toMatchObject({ packs: 1, objects: 6, problems: [], quarantined: [] });
  });

  it('a pack without its index (kill between the renames) and a corrupt index: rebuilt from the pack', async () => {
    const { make, objs, idxFile } = await sealedPack();
    const good = readFileSync(idxFile);
    rmSync(idxFile);
    expect(make().has(objs[0].oid, 'blob')).toBe(false); // invisible
    let c = await make().checkPacks();
    expect(c.problems).toHaveLength(1);
    expect(c.problems[0].action).toMatch(/rebuilt/);
    expect(readFileSync(idxFile).equals(good)).toBe(true); // the same bytes the sealer writes
    chmodSync(idxFile, 0o644);
    writeFileSync(idxFile, Buffer.concat([good.subarray(0, 100), Buffer.alloc(5)]));
    c = await make().checkPacks();
    expect(c.problems[0].action).toMatch(/rebuilt/);
    const p = make();
    for (const o of objs) expect(p.read(o.oid, 'blob').equals(o.body)).toBe(true);
    expect((await make().checkPacks()).problems).toEqual([]);
  });

  it('adoptOrphans (run by cleanStaleTemp) indexes an intact pack a killed seal left unindexed, leaves a damaged one to fsck', async () => {
    const { dir, make, objs, packFile, idxFile } = await sealedPack();
    const good = readFileSync(idxFile);
    rmSync(idxFile);
    const bogus = path.join(dir, 'cache/packs', 'e'.repeat(64) + '.pack');
    writeFileSync(bogus, readFileSync(packFile).subarray(0, 100));
    expect(await make().adoptOrphans()).toBe(1);
    expect(readFileSync(idxFile).equals(good)).toBe(true);
    expect(existsSync(bogus)).toBe(true);
    expect(existsSync(bogus.replace(/pack$/, 'idx'))).toBe(false);
    expect(make().read(objs[0].oid, 'blob').equals(objs[0].body)).toBe(true);
    expect(await make().adoptOrphans()).toBe(0);
  });

  it('a damaged pack: good objects kept in a new pack, bad ones and the damaged pack quarantined', async () => {
    const { dir, make, objs, packFile } = await sealedPack();
    const idx = PackIndex.parse(readFileSync(packFile.replace(/\.pack$/, '.idx')), 'i');
    chmodSync(packFile, 0o644);
    const b = readFileSync(packFile);
    b[idx.find(objs[4].oid)!.offset + 7] ^= 0x80;
    writeFileSync(packFile, b);
    const c = await make().checkPacks();
    expect(c.quarantined.map((q) => q.oid)).toEqual([objs[4].oid]);
    expect(c.problems).toHaveLength(1);
    expect(existsSync(packFile)).toBe(false);
    const p = make();
    expect(p.has(objs[4].oid, 'blob')).toBe(false);
    for (const i of [0, 1, 2, 3, 5]) expect(p.read(objs[i].oid, 'blob').equals(objs[i].body)).toBe(true);
    expect(readdirSync(path.join(dir, 'cache/quarantine')).length).toBe(2); // the object, the damaged pack
    expect((await make().checkPacks()).problems).toEqual([]);
  });

  it('a truncated pack without index (a torn copy): its whole entries are salvaged', async () => {
    const { make, objs, packFile, idxFile } = await sealedPack();
    rmSync(idxFile);
    chmodSync(packFile, 0o644);
    const b = readFileSync(packFile);
    writeFileSync(packFile, b.subarray(0, b.length - 200)); // trailer and part of the last entry gone
    const c = await make().checkPacks();
    expect(c.problems).toHaveLength(1);
    const p = make();
    const kept = objs.filter((o) => p.has(o.oid, 'blob'));
    expect(kept.length).toBe(5);
    for (const o of kept) expect(p.read(o.oid, 'blob').equals(o.body)).toBe(true);
  });

  it('an index without its pack, and a file that is not a pack: quarantined and reported', async () => {
    const { dir, make, packFile, idxFile } = await sealedPack();
    renameSync(packFile, path.join(dir, 'elsewhere'));
    let c = await make().checkPacks();
    expect(c.problems.map((x) => x.problem)).toEqual(['index without its pack']);
    expect(existsSync(idxFile)).toBe(false);
    const bogus = path.join(dir, 'cache/packs', 'f'.repeat(64) + '.pack');
    writeFileSync(bogus, 'not a pack at all, just text that is long enough to pass for one');
    c = await make().checkPacks();
    expect(c.problems).toHaveLength(1);
    expect(c.problems[0].problem).toMatch(/magic/);
    expect(existsSync(bogus)).toBe(false);
  });
});
