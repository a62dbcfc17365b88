/**
 * The remote side of the object store: the one module that knows how objects are laid out on a
 * remote, which of a set of oids a remote lacks, and how one is uploaded or downloaded. Push, fetch,
 * gc --remote and `trove verify` go through it; nobody else builds a remote key for an object.
 *
 * Layout (wave 1, still read and written for large objects):
 *   objects/sha256/<2 hex>/<62 hex>     one object, its bytes exactly (the cache's own layout)
 *
 * Every request goes through the one retry policy (src/remotes/retry.ts) with the remote's
 * `attempts`: the backend marks what is worth retrying (`retryable`), this module re-sends it. A
 * download whose body dies midway (a reset, a cut connection) is retried whole; a body that arrives
 * whole but does not hash to its oid is INTEGRITY and is not retried (the remote's copy is bad).
 */
import pLimit from 'p-limit';
import { TroveError, isTroveError } from './errors.js';
import { hashBytes, hexOf, type Oid } from './oid.js';
import { type OpenBody, type Remote, withRetry } from '../remotes/index.js';

const LOOSE_PREFIX = 'objects/sha256/';

/** What an object is, as the caller knows from context (pointer type, tree entry); stored in pack indexes. */
export type ObjectKind = 'blob' | 'tree' | 'chunk' | 'manifest';

/** The key of a loose object: `objects/sha256/ab/cdef…`. */
export function looseKey(oid: Oid): string {
  const hex = hexOf(oid);
  return `${LOOSE_PREFIX}${hex.slice(0, 2)}/${hex.slice(2)}`;
}

/** The oid a loose key names, or null for any other key. */
export function oidFromLooseKey(key: string): Oid | null {
  const m = /^objects\/sha256\/([0-9a-f]{2})\/([0-9a-f]{62})$/.exec(key);
  return m ? (`sha256:${m[1]}${m[2]}` as Oid) : null;
}

/**
 * Above this many objects, finding what the remote lacks lists the remote by fan-out prefix instead
 * of one HEAD per object. Measured on this machine (`node bench/transfer.mjs --files 10000 --size 100
 * --checks --checks-only`, local S3 server in the same process as the client, 2 cores, jobs 16):
 *   HEAD:   256 requests 0.55 s, 1,000 → 1.93 s, 5,000 → 3.61 s  (≈ 460–1,400 requests/s);
 *   list:   all 256 prefixes of a 10,101-object remote → 0.79 s (≤ 256 requests + 1 per 1,000 keys).
 * Listing costs max(prefixes touched, remote size / 1,000 per page) whatever we push; HEADs cost one
 * per object (fewer with subtree pruning). The crossover here is ≈ 370 objects for a 10k-object
 * remote, later for bigger remotes; 256 keeps small pushes on HEAD (which also prunes present
 * subtrees) and every large one on listing, which is ≥ 4× cheaper at 1,000+ objects.
 */
export const HEAD_MAX = 256;

/** The shape `present()` walks: for a tree, its children (undefined when not known locally). */
export interface GraphNode {
  children?: Oid[];
}

export interface RemoteObject {
  oid: Oid;
  size: number;
  /** upload time when the backend knows it */
  mtimeMs?: number;
}

/** Objects above this are never read into memory by `readSmall` (trees are far smaller). */
const SMALL_LIMIT = 64 << 20;

export class RemoteStore {
  /** requests spent finding what the remote has (HEADs and list pages), for the push report */
  checks = 0;
  private readonly limit: ReturnType<typeof pLimit>;

  /**
   * @example const store = new RemoteStore(remote, { jobs: 16, signal })
   */
  constructor(readonly remote: Remote, private readonly o: { jobs?: number; signal?: AbortSignal } = {}) {
    this.limit = pLimit(o.jobs ?? 16);
  }

  get name(): string {
    return this.remote.name;
  }

  /** `fn` under the one retry policy, with this remote's attempts and the operation's signal. */
  retry<T>(fn: () => Promise<T>): Promise<T> {
    return withRetry(fn, { attempts: this.remote.attempts, signal: this.o.signal });
  }

  /** Whether the remote holds `oid` (one HEAD). */
  async has(oid: Oid, _kind: ObjectKind = 'blob'): Promise<boolean> {
    return this.limit(() => this.retry(async () => {
      this.checks++;
      return (await this.remote.stat(looseKey(oid), { signal: this.o.signal })) !== null;
    }));
  }

  /**
   * Which objects of `nodes` the remote holds, walking down from `roots`. A tree the remote holds
   * is complete there (push uploads children before parents, gc keeps subtrees of what it keeps),
   * so its whole subtree counts as present without asking.
   * 1. up to `headMax` objects: HEAD requests top-down, a present tree prunes its subtree;
   * 2. above it: list the remote by the 2-hex fan-out prefixes the set touches (in parallel), and
   *    keep only the keys asked about.
   */
  async present(nodes: Map<Oid, GraphNode>, roots: Oid[], o: { headMax?: number; knownAbsent?: Set<Oid> } = {}): Promise<{ present: Set<Oid>; strategy: 'head' | 'list' }> {
    const present = new Set<Oid>();
    if ((o.headMax ?? HEAD_MAX) >= nodes.size) {
      const visited = new Set<Oid>();
      const visit = async (oid: Oid): Promise<void> => {
        if (visited.has(oid)) return;
        visited.add(oid);
        if (!o.knownAbsent?.has(oid) && (await this.has(oid))) {
          markSubtree(nodes, oid, present);
          return;
        }
        const kids = nodes.get(oid)?.children;
        if (kids) await Promise.all(kids.map(visit));
      };
      await Promise.all(roots.map(visit));
      return { present, strategy: 'head' };
    }
    const prefixes = new Set<string>();
    for (const oid of nodes.keys()) prefixes.add(hexOf(oid).slice(0, 2));
    await Promise.all([...prefixes].map((p) => this.limit(() => this.retry(async () => {
      this.checks++;
      for await (const e of this.remote.list(`${LOOSE_PREFIX}${p}/`, { signal: this.o.signal })) {
        const oid = oidFromLooseKey(e.key);
        if (oid && nodes.has(oid)) present.add(oid);
      }
    }))));
    return { present, strategy: 'list' };
  }

  /**
   * Uploads one object of `size` bytes read from `open()` (called again for each attempt); its bytes
   * are checked against the oid while they are read, so a corrupt local copy never becomes visible
   * (INTEGRITY). `onBytes` reports each attempt's bytes; `onRetry` says an attempt's bytes were
   * thrown away.
   */
  async upload(oid: Oid, _kind: ObjectKind, size: number, open: OpenBody, o: { onBytes?: (n: number) => void } = {}): Promise<void> {
    await this.retry(() => this.remote.put(looseKey(oid), open, size, { signal: this.o.signal, sha256: hexOf(oid), onBytes: o.onBytes }));
  }

  /**
   * Downloads `oid` and hands its body to `consume` (which must verify it, e.g. cache.putStream);
   * retried whole when the request or the body fails transiently. NOT_FOUND when the remote lacks it.
   * @example const n = await store.download(oid, 'blob', (body) => cache.putStream(oid, body, where))
   */
  async download<T>(oid: Oid, _kind: ObjectKind, consume: (body: NodeJS.ReadableStream) => Promise<T>): Promise<T> {
    const key = looseKey(oid);
    return this.retry(async () => {
      const body = await this.remote.get(key, { signal: this.o.signal });
      let bodyError: unknown;
      body.once('error', (e) => (bodyError = e));
      try {
        return await consume(body);
      } catch (err) {
        (body as { destroy?: () => void }).destroy?.();
        if (isTroveError(err, 'ABORTED') || this.o.signal?.aborted) throw err;
        // the body died midway (a reset, a cut connection): the whole get is worth another try
        if (bodyError !== undefined && (err === bodyError || !isTroveError(err))) {
          throw new TroveError('REMOTE', `remote "${this.name}": download of ${key} failed midway: ${(bodyError as Error)?.message ?? String(bodyError)}`,
            undefined, { cause: bodyError, retryable: true });
        }
        throw err;
      }
    });
  }

  /**
   * A small object (a tree) whole and verified, or null when the remote lacks it. Corrupt bytes
   * are INTEGRITY.
   */
  async readSmall(oid: Oid, kind: ObjectKind, what: string = oid): Promise<Buffer | null> {
    try {
      return await this.download(oid, kind, async (body) => {
        const parts: Buffer[] = [];
        let n = 0;
        for await (const c of body as AsyncIterable<Buffer>) {
          n += c.length;
          if (n > SMALL_LIMIT) throw new TroveError('INTEGRITY', `${what}: object ${oid} on remote "${this.name}" is larger than ${SMALL_LIMIT} bytes; it is not a tree`);
          parts.push(c);
        }
        const buf = Buffer.concat(parts);
        if (hashBytes(buf) !== oid) throw new TroveError('INTEGRITY', `${what}: object ${oid} on remote "${this.name}" is corrupt`, 'push a good copy from a clone that has it');
        return buf;
      });
    } catch (err) {
      if (isTroveError(err, 'NOT_FOUND')) return null;
      throw err;
    }
  }

  /** Every object the remote holds, with its size and upload time. */
  async *list(): AsyncIterable<RemoteObject> {
    // a listing is not retried midway (it would repeat keys); the pages are requests of their own
    for await (const e of this.remote.list(LOOSE_PREFIX, { signal: this.o.signal })) {
      const oid = oidFromLooseKey(e.key);
      if (oid) yield { oid, size: e.size, mtimeMs: e.mtimeMs };
    }
  }

  /** Deletes objects (missing ones are fine), 1,000 per request. */
  async delete(oids: Oid[]): Promise<void> {
    for (let i = 0; i < oids.length; i += 1000) {
      const keys = oids.slice(i, i + 1000).map(looseKey);
      await this.retry(() => this.remote.delete(keys));
    }
  }
}

/** Adds `oid` and everything below it in `nodes` to `into`. */
export function markSubtree(nodes: Map<Oid, GraphNode>, oid: Oid, into: Set<Oid>): void {
  const stack = [oid];
  while (stack.length) {
    const o = stack.pop()!;
    if (into.has(o)) continue;
    into.add(o);
    const kids = nodes.get(o)?.children;
    if (kids) stack.push(...kids);
  }
}

const stores = new WeakMap<Remote, RemoteStore>();

/** The store for an open remote, made once (for callers that hold a Remote, e.g. `trove verify`). */
export function remoteStoreOf(remote: Remote): RemoteStore {
  let s = stores.get(remote);
  if (!s) stores.set(remote, (s = new RemoteStore(remote)));
  return s;
}
