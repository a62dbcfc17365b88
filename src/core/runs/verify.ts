/**
 * `trove verify <run>`: is every object a run names still there and whole? For each input, each produced
 * output and the stored diff of a dirty run: the object (for a folder: its trees and every file below) is
 * looked for in the cache and re-hashed there; one the cache lacks is looked for on the default remote
 * (when one is configured) and re-hashed as it streams from there, without being stored. A folder whose
 * tree is only on the remote is walked from the remote's copy (verified before it is parsed).
 */
import { createHash } from 'node:crypto';
import type { Remote } from '../../remotes/index.js';
import { TroveError, isTroveError } from '../errors.js';
import type { Oid } from '../oid.js';
import type { RepoContext } from '../context.js';
import { kindOf, type ObjectKind } from '../store/objectStore.js';
import { parseTree, type TreeEntry } from '../tree.js';
import { walkTrees } from '../walkTrees.js';
import { remoteStoreOf } from '../remoteStore.js';

export interface ObjectProblem {
  /** The run's path (inputs/outputs), the file inside a folder, or `(git diff)`. */
  path: string;
  oid: string;
  problem: 'missing' | 'corrupt';
  /** Where it was looked for. */
  looked: ('cache' | 'remote')[];
}

export interface RunVerification {
  run: string;
  /** Objects checked, and where the good ones were found. */
  checked: number;
  inCache: number;
  onRemote: number;
  remote: string | null;
  problems: (ObjectProblem & { role: 'input' | 'output' | 'diff' })[];
}

interface Ctx {
  repo: RepoContext;
  remote: Remote | null;
  /** false: a cached object counts as whole without re-hashing it (presence only). */
  rehash?: boolean;
  seen: Map<string, ObjectProblem['problem'] | 'cache' | 'remote'>;
  counts: { checked: number; inCache: number; onRemote: number };
}

async function hashRemote(remote: Remote, oid: Oid): Promise<Buffer | 'missing' | 'corrupt'> {
  try {
    return await remoteStoreOf(remote).download(oid, 'blob', async (body) => {
      const h = createHash('sha256');
      // Keep the bytes only while they are small enough to be a tree (trees are read back, blobs only hashed).
      const keep: Buffer[] = [];
      let kept = 0;
      for await (const c of body as AsyncIterable<Buffer>) {
        h.update(c);
        if (kept <= 64 << 20) keep.push(c), (kept += c.length);
      }
      return `sha256:${h.digest('hex')}` === oid ? Buffer.concat(keep) : 'corrupt';
    });
  } catch (err) {
    if (isTroveError(err, 'NOT_FOUND')) {
      // a chunked file (a manifest and its chunks; chunkTransfer.ts): never a tree, so no bytes kept
      const { verifyRemoteChunked } = await import('../chunkTransfer.js');
      const r = await verifyRemoteChunked(remoteStoreOf(remote), oid);
      return r === 'ok' ? Buffer.alloc(0) : r;
    }
    if (isTroveError(err, 'INTEGRITY')) return 'corrupt'; // a packed copy is checked as it is read
    throw err;
  }
}

/** Checks one object; returns where it was found whole, or the problem. Trees come back with their bytes. */
async function checkOne(c: Ctx, oid: Oid, kind: ObjectKind, wantBytes: boolean): Promise<{ at: 'cache' | 'remote'; bytes?: Buffer } | ObjectProblem['problem']> {
  const { cache } = c.repo;
  if (await cache.has(oid, kind)) {
    if (c.rehash === false || (await cache.verify(oid, kind))) return { at: 'cache', bytes: wantBytes ? cache.readSmall(oid, kind) : undefined };
    if (!c.remote) return 'corrupt';
    const r = await hashRemote(c.remote, oid);
    return Buffer.isBuffer(r) ? { at: 'remote', bytes: r } : 'corrupt';
  }
  if (!c.remote) return 'missing';
  const r = await hashRemote(c.remote, oid);
  return Buffer.isBuffer(r) ? { at: 'remote', bytes: r } : r;
}

/**
 * Problems with one data version (a file, or a folder and everything below it); empty when it is whole.
 * `remote: null` checks the cache only; `rehash: false` takes a cached object's presence for the whole.
 * @example await checkObjects(repo, oid, 'dir', 'data', { remote: null })
 */
export async function checkObjects(repo: RepoContext, oid: Oid, type: 'file' | 'dir', where: string, o: { remote: Remote | null; rehash?: boolean }, ctx?: Ctx): Promise<ObjectProblem[]> {
  const c: Ctx = ctx ?? { repo, remote: o.remote, rehash: o.rehash, seen: new Map(), counts: { checked: 0, inCache: 0, onRemote: 0 } };
  const looked: ObjectProblem['looked'] = c.remote ? ['cache', 'remote'] : ['cache'];
  const problems: ObjectProblem[] = [];
  const bad = (p: string, x: Oid, problem: ObjectProblem['problem']): null => {
    problems.push({ path: p, oid: x, problem, looked });
    return null;
  };
  /** Checks one object (counted once, however often it is named); a tree comes back as its entries, null when there is a problem. */
  const check = async (x: Oid, t: 'file' | 'dir', p: string): Promise<readonly TreeEntry[] | null> => {
    const before = c.seen.get(x);
    if (before === 'missing' || before === 'corrupt') return bad(p, x, before);
    if (before && t === 'file') return null;
    const r = before && t === 'dir' ? await checkOne(c, x, 'tree', true) : await checkOne(c, x, kindOf(t), t === 'dir');
    if (!before) c.counts.checked++;
    if (typeof r === 'string') {
      c.seen.set(x, r);
      return bad(p, x, r);
    }
    if (!before) {
      c.seen.set(x, r.at);
      if (r.at === 'cache') c.counts.inCache++;
      else c.counts.onRemote++;
    }
    if (t === 'file') return null;
    try {
      return parseTree(r.bytes!, p).entries;
    } catch (err) {
      if (!(err instanceof TroveError)) throw err;
      return bad(p, x, 'corrupt');
    }
  };
  if (type === 'file') await check(oid, 'file', where);
  else {
    // the one tree walk: each tree is checked as it is read (wherever it lives), each file as it is visited;
    // serial, so that "seen before" is decided in entry order, and no memo: a problem is reported at every path
    await walkTrees((t, p) => check(t, 'dir', p), oid, async (e, p) => {
      if (e.type === 'file') await check(e.oid, 'file', p);
    }, { where, serial: true });
  }
  return problems;
}

/**
 * Verifies a run's objects. `remote`: a remote name, undefined for the default one (none configured:
 * the cache only), or null for the cache only.
 * @example const v = await verifyRun(repo, '01JD3Z8Q4X'); if (v.problems.length) …
 */
export async function verifyRun(repo: RepoContext, idOrPrefix: string, o: { remote?: string | null } = {}): Promise<RunVerification> {
  const { record } = await (await repo.runStore()).read(idOrPrefix);
  let remote: Remote | null = null;
  if (o.remote !== null) {
    const { defaultRemoteName, listRemotes, openRepoRemote } = await import('../remoteConfig.js');
    if (o.remote !== undefined || defaultRemoteName(repo.config) || listRemotes(repo.config).length === 1) remote = openRepoRemote(repo, o.remote).remote;
  }
  try {
    const c: Ctx = { repo, remote, seen: new Map(), counts: { checked: 0, inCache: 0, onRemote: 0 } };
    const problems: RunVerification['problems'] = [];
    for (const i of record.inputs) {
      for (const p of await checkObjects(repo, i.oid as Oid, i.type, i.path, { remote }, c)) problems.push({ ...p, role: 'input' });
    }
    for (const x of record.outputs) {
      if (x.oid === null) continue;
      for (const p of await checkObjects(repo, x.oid as Oid, x.type ?? 'file', x.path, { remote }, c)) problems.push({ ...p, role: 'output' });
    }
    if (record.git?.diffOid) {
      for (const p of await checkObjects(repo, record.git.diffOid as Oid, 'file', '(git diff)', { remote }, c)) problems.push({ ...p, role: 'diff' });
    }
    return { run: record.id, ...c.counts, remote: remote?.name ?? null, problems };
  } finally {
    await remote?.close();
  }
}
