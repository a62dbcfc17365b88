/**
 * gc --remote of chunked files: which manifests go, and which chunks their going frees.
 *
 * A manifest (`manifests/sha256/ab/…`, named by the file's oid) is a gc candidate like a loose
 * object: it stays when gc's mark names its file (pointers at the revisions in scope, run records)
 * or when it is younger than the grace period (a push may be about to commit it). Only KEPT
 * manifests keep chunks; a chunk no kept manifest names is an ordinary unmarked object (loose: a
 * candidate; packed: garbage in its pack, which goes through the two-phase repack of remoteGc.ts).
 *
 * A kept manifest gc cannot read hides the chunks it names, so it blocks the whole run (gc deletes
 * nothing). A dead manifest is not read: nothing it names is kept on its account, so a corrupt one
 * just goes.
 *
 * The sweep deletes manifests first, then re-lists `manifests/` (chunksStillNamed) and keeps every
 * chunk that any manifest still there names, whatever the plan said. We chose the re-list over a
 * grace period on chunks: a grace period protects only the chunks a concurrent push uploaded itself,
 * not the ones it skipped because the remote already held them (shared with the version gc is
 * dropping), which is exactly the common case of a delta push. The window left is a push whose
 * manifest lands between the re-list and the chunk deletes (milliseconds, against a push's minutes);
 * `trove verify` reports such a file and a re-push repairs it.
 */
import type { Oid } from './oid.js';
import { TroveError } from './errors.js';
import type { RemoteStore } from './remoteStore.js';
import { parseManifest } from './store/manifest.js';

export interface ManifestGcPlan {
  /** manifests to delete: their file is not marked and they are older than the grace period */
  dead: { oid: Oid; size: number }[];
  /** kept manifest → the chunks it names (the sweep's re-list reads only manifests not in here) */
  kept: Map<Oid, Oid[]>;
  /** kept only for their age (their file is not marked): the plan's keptYoung counts them */
  young: number;
  youngBytes: number;
}

/** Parses one remote manifest; a TroveError (missing is null) for one that is corrupt. */
async function manifestChunks(store: RemoteStore, oid: Oid): Promise<Oid[] | null> {
  const raw = await store.readManifest(oid);
  if (!raw) return null; // deleted meanwhile: names nothing any more
  return parseManifest(raw, `manifest of ${oid} on remote "${store.name}"`, oid).chunks.map((c) => c.oid);
}

/**
 * The manifests on the remote split into dead and kept; unreadable kept ones are pushed onto
 * `unreadable` (then gc deletes nothing). Without an upload time a manifest counts as young.
 * @example const m = await planManifests(store, (oid) => marked.has(oid), Date.now(), 86_400_000, unreadable)
 */
export async function planManifests(store: RemoteStore, isLive: (file: Oid) => boolean, now: number, graceMs: number, unreadable: string[]): Promise<ManifestGcPlan> {
  const out: ManifestGcPlan = { dead: [], kept: new Map(), young: 0, youngBytes: 0 };
  for await (const e of store.listManifests()) {
    if (!isLive(e.oid)) {
      if (e.mtimeMs !== undefined && now - e.mtimeMs >= graceMs) {
        out.dead.push({ oid: e.oid, size: e.size });
        continue;
      }
      out.young++;
      out.youngBytes += e.size;
    }
    try {
      const chunks = await manifestChunks(store, e.oid);
      if (chunks) out.kept.set(e.oid, chunks);
    } catch (err) {
      if (!(err instanceof TroveError)) throw err;
      unreadable.push(`manifest ${e.oid} on remote "${store.name}": ${err.message}`);
    }
  }
  return out;
}

/**
 * Right before chunks are deleted: every chunk a manifest on the remote names now (a push may have
 * published one since the plan). Manifests in `known` are not read again (a manifest's key is its
 * file's oid, so its content does not change). Throws, and so stops the sweep before any chunk goes,
 * when a manifest cannot be read.
 */
export async function chunksStillNamed(store: RemoteStore, known: Map<Oid, Oid[]>, listed?: Set<Oid>): Promise<Set<Oid>> {
  const named = new Set<Oid>();
  for await (const e of store.listManifests()) {
    listed?.add(e.oid); // the manifests still there, for the inventory gc writes
    let chunks = known.get(e.oid) ?? null;
    if (!chunks) {
      try {
        chunks = await manifestChunks(store, e.oid);
      } catch (err) {
        if (!(err instanceof TroveError)) throw err;
        throw new TroveError('MISSING_OBJECT', `gc deleted no chunks: manifest ${e.oid} on remote "${store.name}" appeared during gc and cannot be read (${err.message})`,
          'check the remote (`trove verify --remote`), re-push the file, then run gc again');
      }
    }
    for (const c of chunks ?? []) named.add(c);
  }
  return named;
}
