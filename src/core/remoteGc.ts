/**
 * gc --remote with packs: two phases, so that a push running meanwhile never loses an object.
 *
 * A pack is never rewritten in place and never deleted in the run that finds its garbage:
 * 1. Repack: every live pack that holds a candidate has its other objects (the ones gc keeps)
 *    copied into a new pack, which is published (pack, then index) before anything else changes.
 * 2. Doom: then each such pack gets a `packs/<id>.doomed` marker. From that moment readers and
 *    pushes treat it as gone (a push that needs one of its objects sends it again), but its bytes stay.
 * 3. Delete, in a later run: a doomed pack whose marker is older than the grace period is deleted,
 *    after a rescue: any object in it that the fresh mark keeps (reachable, or below a young tree)
 *    and that no live pack or loose object holds is copied into the new pack first. This is what
 *    saves a push that read the remote before the doom and skipped objects of that pack: its trees
 *    name them, so the mark keeps them, so they are rescued. The grace period bounds how long a push
 *    may take (default 24 h).
 * 4. Pack bodies without an index (a push killed before its index) older than the grace period go.
 * 0. Before all of this, dead manifests are deleted, then `manifests/` is listed again and every chunk
 *    a manifest still there names leaves the candidates (a push may have published it meanwhile;
 *    remoteManifestGc.ts).
 * 5. Loose candidates are deleted as in wave 1 (trees first), then the inventory is rewritten.
 *
 * gc never deletes a pack created after its listing started: it deletes only packs it listed, and
 * of those only doomed ones (marked by an earlier run) or index-less ones, both older than the grace period.
 */
import { rm } from 'node:fs/promises';
import type { ObjectStore } from './store/objectStore.js';
import type { Oid } from './oid.js';
import { manifestKey, packKey, type RemotePack, type RemoteStore } from './remoteStore.js';
import { chunksStillNamed } from './remoteManifestGc.js';
import { PackWriter } from './store/pack.js';
import { encodePackIndex, parsePackIndex, type PackIndexEntry } from './store/packIndex.js';

export interface RemoteSweep {
  deleted: number;
  bytes: number;
  /** packs written (repacked objects), doomed, and deleted */
  packsWritten: number;
  packsDoomed: number;
  packsDeleted: number;
  rescued: number;
}

/**
 * Steps 1–5 for the candidates of a fresh plan. `keep` is what the mark keeps (reachable, young, below young trees).
 * @example await sweepRemote(repo.cache, store, candidates, keep, { graceMs, now })
 */
export async function sweepRemote(cache: ObjectStore, store: RemoteStore, all: { oid: Oid; size: number; tree: boolean; pack?: string; manifest?: true }[], keep: Set<Oid>,
  o: { graceMs: number; now: number; manifestsKept?: Map<Oid, Oid[]> }): Promise<RemoteSweep> {
  const out: RemoteSweep = { deleted: 0, bytes: 0, packsWritten: 0, packsDoomed: 0, packsDeleted: 0, rescued: 0 };
  // 0. manifests first; then what any manifest still on the remote names stays, and is rescued from due packs
  const dead = all.filter((c) => c.manifest);
  await store.deleteKeys(dead.map((c) => manifestKey(c.oid)));
  const manifestsLeft = new Set<Oid>();
  const named = await chunksStillNamed(store, o.manifestsKept ?? new Map(), manifestsLeft);
  for (const oid of named) keep.add(oid);
  const candidates = all.filter((c) => !c.manifest && !named.has(c.oid));
  for (const c of dead) {
    out.deleted++;
    out.bytes += c.size;
  }
  const v = await store.view();
  const cand = new Set(candidates.map((c) => c.oid));
  const due = await store.duePacks(o.graceMs, o.now);
  const rewrite = [...v.packs.values()].filter((p) => candidates.some((c) => c.pack === p.id));
  const rewriting = new Set(rewrite.map((p) => p.id));
  const looseThere = new Set<Oid>();
  for await (const e of store.listLoose()) looseThere.add(e.oid);

  // what goes into the new pack: kept objects of packs being rewritten, and rescues from due packs
  const copies: { pack: RemotePack; entries: PackIndexEntry[] }[] = [];
  const copied = new Set<Oid>();
  for (const p of rewrite) {
    const entries = [...p.idx.entries()].filter((e) => !cand.has(e.oid) && !copied.has(e.oid) && (copied.add(e.oid), true));
    if (entries.length) copies.push({ pack: p, entries });
  }
  const elsewhere = (oid: Oid) => copied.has(oid) || looseThere.has(oid) || [...v.packs.values()].some((p) => !rewriting.has(p.id) && p.idx.has(oid));
  for (const p of due) {
    const entries = [...p.idx.entries()].filter((e) => keep.has(e.oid) && !elsewhere(e.oid) && (copied.add(e.oid), true));
    out.rescued += entries.length;
    if (entries.length) copies.push({ pack: p, entries });
  }

  // 1. repack (and rescue) into one new pack, published before anything is doomed or deleted
  const published: RemotePack[] = [];
  if (copies.length) {
    const w = PackWriter.create(await cache.tempPath());
    try {
      for (const c of copies) {
        await store.readRun(c.pack, c.entries, async (e, body) => {
          if (!w.has(e.oid, e.kind)) w.add(e.kind, body, e.oid);
        });
      }
      const fin = await w.finish();
      const idx = parsePackIndex(encodePackIndex(fin.id, fin.size, fin.entries), w.file);
      published.push(await store.putPack(w.file, idx));
      out.packsWritten++;
    } catch (err) {
      try { w.abort(); } catch { /* already finished */ }
      throw err;
    } finally {
      await rm(w.file, { force: true });
    }
  }
  // 2. doom the rewritten packs
  for (const p of rewrite) {
    await store.doom(p.id);
    out.packsDoomed++;
  }
  // 3. delete due packs (doomed by an earlier run, longer ago than the grace period)
  for (const p of due) {
    await store.deleteKeys([packKey(p.id, 'idx'), packKey(p.id, 'pack'), packKey(p.id, 'doomed')]);
    out.packsDeleted++;
  }
  // 4. index-less pack bodies older than the grace period
  const stale = v.orphans.filter((x) => x.mtimeMs !== undefined && o.now - x.mtimeMs >= o.graceMs);
  if (stale.length) await store.deleteKeys(stale.map((x) => packKey(x.id, 'pack')));
  // 5. loose candidates, trees first; packed candidates went with their packs
  const loose = candidates.filter((c) => !c.pack);
  for (const group of [loose.filter((c) => c.tree), loose.filter((c) => !c.tree)]) {
    await store.delete(group.map((c) => c.oid));
  }
  for (const c of candidates) {
    out.deleted++;
    out.bytes += c.size;
  }
  // the inventory: what is live now
  const live = [...v.packs.values()].filter((p) => !rewriting.has(p.id)).concat(published);
  for (const c of loose) looseThere.delete(c.oid);
  // with the manifests listed after the deletes: an inventory without them would send the next push
  // back to one HEAD per large file (and to listing manifests/ again to rebuild the field)
  await store.writeInventory(live.map((p) => p.idx), looseThere, manifestsLeft);
  store.refresh();
  return out;
}
