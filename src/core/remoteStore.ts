/**
 * The remote side of the object store: the one module that knows how objects are laid out on a
 * remote, which of a set of oids a remote lacks, and how one is uploaded or downloaded. Push, fetch,
 * gc --remote and `trove verify` go through it; nobody else builds a remote key for an object.
 *
 * Layout (version 2; a wave-1 remote is the first line only, and stays readable):
 *   objects/sha256/<2 hex>/<62 hex>     one object, its bytes exactly (large objects; all of wave 1's)
 *   packs/<id>.pack                     small objects packed (store/pack.ts format), id = its checksum
 *   packs/<id>.idx                      its index (store/packIndex.ts), put after the pack: an index
 *                                       names a complete pack, a pack without one is invisible
 *   packs/<id>.doomed                   gc's mark: the pack is on its way out (see gc.ts); readers
 *                                       treat it as gone at once, gc deletes it a grace period later
 *   inventory.json                      what the remote holds (inventory.ts): advisory, re-checked
 *   manifests/sha256/<2 hex>/<62 hex>   a chunked file's manifest (store/manifest.ts format, version 1),
 *                                       named by the file's oid; put only after every chunk it names is
 *                                       on the remote (chunks are objects: loose or packed, kind chunk)
 *
 * What the remote holds (`view()`, once per operation): GET the inventory, LIST `packs/` (one request
 * per 1,000 keys), GET the index of any live pack the inventory lacks; without an inventory (a
 * wave-1 remote), LIST `objects/` once. A pack counts only while its .idx and .pack are listed and it
 * is not doomed; a loose object the inventory claims is re-checked (HEAD, or a prefix listing when
 * many) before anything is skipped because of it; an object the inventory does not name is missing
 * (sending it again is safe), except a large one, which gets a HEAD first (re-sending it is not cheap)
 * unless the inventory records manifests (inventory.ts): then it is missing too, and a manifest the
 * inventory claims is re-checked with one HEAD of its key.
 *
 * Every request goes through the one retry policy (src/remotes/retry.ts) with the remote's
 * `attempts`: the backend marks what is worth retrying (`retryable`), this module re-sends it. A
 * download whose body dies midway (a reset, a cut connection) is retried whole; a body that arrives
 * whole but does not hash to its oid is INTEGRITY and is not retried (the remote's copy is bad).
 */
import pLimit from 'p-limit';
import { INVENTORY_KEY, encodeInventory, parseInventory } from './inventory.js';
import { createHash } from 'node:crypto';
import { ENTRY_HEADER_SIZE, PACK_END_MAGIC, PACK_HEADER_SIZE, PACK_TRAILER_SIZE, checkPackHeader, entryRange, verifyEntryBytes } from './store/pack.js';
import { parsePackIndex, type PackIndex, type PackIndexEntry } from './store/packIndex.js';
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
const MANIFESTS_PREFIX = 'manifests/sha256/';

/** The key of a chunked file's manifest on a remote: `manifests/sha256/ab/cdef…` (named by the file's oid). */
export function manifestKey(oid: Oid): string {
  const hex = hexOf(oid);
  return `${MANIFESTS_PREFIX}${hex.slice(0, 2)}/${hex.slice(2)}`;
}

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
  /** bytes, when known: an object above PACK_OBJECT_MAX that no inventory names gets a HEAD before it is sent again */
  size?: number;
}

/** Objects up to this size are sent in packs; larger ones loose (multipart when big). */
export const PACK_OBJECT_MAX = 1 << 20;

export const PACKS_PREFIX = 'packs/';
export const packKey = (id: string, ext: 'pack' | 'idx' | 'doomed') => `${PACKS_PREFIX}${id}.${ext}`;

/** One pack on the remote, as listed. */
export interface RemotePack {
  id: string;
  idx: PackIndex;
  size: number;
  mtimeMs?: number;
}

/** What the remote holds, read once per operation (see the header). */
export interface RemoteView {
  /** live packs: .pack and .idx listed, not doomed */
  packs: Map<string, RemotePack>;
  /** doomed packs (gc): id → the marker's time */
  doomed: Map<string, { mtimeMs?: number; pack?: { size: number; mtimeMs?: number } }>;
  /** .pack files without an .idx (a push that died before its index; gc removes old ones) */
  orphans: { id: string; size: number; mtimeMs?: number }[];
  /** loose objects: seen in a listing made now (true) or claimed by the inventory (false, re-checked before use) */
  loose: Map<Oid, boolean>;
  /** files held as manifests, as the inventory claims (re-checked before use); undefined: not recorded */
  manifests?: Set<Oid>;
  /** an inventory was found */
  inventory: boolean;
  /** the inventory differs from what was found (packs it lacks or names wrongly): rewrite it */
  stale: boolean;
}

export interface RemoteObject {
  oid: Oid;
  size: number;
  /** upload time when the backend knows it */
  mtimeMs?: number;
}

/** What readRun keeps for an entry handed to onEntry (one shared empty buffer, not one each) */
const NO_BYTES = Buffer.alloc(0);

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

  private viewing?: Promise<RemoteView>;

  /** What the remote holds (memoized for this store's life: one operation). */
  view(): Promise<RemoteView> {
    return (this.viewing ??= this.readView());
  }

  /** Forget the view (after a write that changed the remote, or between gc's phases). */
  refresh(): void {
    this.viewing = undefined;
    this.due = undefined;
    this.doomedRead = undefined;
    this.readOnly = [];
  }

  private due?: Promise<RemotePack[]>;
  private doomedRead?: Promise<RemotePack[]>;

  /**
   * A doomed pack that still holds `oid`, for reads only (never for "the remote has it"): between
   * gc's doom and its delete, a tree pushed by someone who read the remote before the doom may name
   * an object only that pack holds, and a fetch must still find it. Indexes are read on the first miss.
   */
  private async locateDoomed(oid: Oid): Promise<{ pack: RemotePack; entry: PackIndexEntry } | null> {
    const v = await this.view();
    if (!v.doomed.size && !this.readOnly.length) return null;
    const packs = await (this.doomedRead ??= (async () => {
      const out: RemotePack[] = [...this.readOnly];
      for (const [id, d] of v.doomed) {
        if (!d.pack || out.some((p) => p.id === id)) continue;
        this.checks++;
        const buf = await this.readKey(packKey(id, 'idx'));
        if (!buf) continue;
        try {
          const idx = parsePackIndex(buf, `remote "${this.name}": ${packKey(id, 'idx')}`);
          if (idx.packId === id && idx.packSize === d.pack.size) out.push({ id, idx, ...d.pack });
        } catch (err) {
          if (!isTroveError(err, 'INTEGRITY')) throw err;
        }
      }
      return out;
    })());
    for (const pack of packs) {
      const entry = pack.idx.find(oid);
      if (entry) return { pack, entry };
    }
    return null;
  }
  /** packs that reads (not presence checks) may use too: gc reads trees out of doomed packs */
  private readOnly: RemotePack[] = [];

  /**
   * Doomed packs whose marker is older than `graceMs` (gc deletes them), with their indexes. A
   * marker without a time is never due.
   */
  duePacks(graceMs: number, now: number): Promise<RemotePack[]> {
    return (this.due ??= (async () => {
      const v = await this.view();
      const out: RemotePack[] = [];
      for (const [id, d] of v.doomed) {
        if (d.mtimeMs === undefined || now - d.mtimeMs < graceMs || !d.pack) continue;
        this.checks++;
        const buf = await this.readKey(packKey(id, 'idx'));
        if (!buf) continue;
        const idx = parsePackIndex(buf, `remote "${this.name}": ${packKey(id, 'idx')}`);
        if (idx.packId !== id || idx.packSize !== d.pack.size) continue;
        out.push({ id, idx, ...d.pack });
      }
      this.readOnly = out;
      this.doomedRead = undefined;
      return out;
    })());
  }

  private async readView(): Promise<RemoteView> {
    const v: RemoteView = { packs: new Map(), doomed: new Map(), orphans: [], loose: new Map(), inventory: false, stale: false };
    // 1. the inventory (advisory)
    let inv: ReturnType<typeof parseInventory> | null = null;
    this.checks++;
    const raw = await this.readKey(INVENTORY_KEY);
    if (raw) {
      try {
        inv = parseInventory(raw, `remote "${this.name}": ${INVENTORY_KEY}`);
        v.inventory = true;
      } catch (err) {
        // a newer trove's inventory means a layout this one may not know: stop. A damaged one is
        // only a lost summary: read the truth instead, and the push rewrites it.
        if (!(isTroveError(err, 'REMOTE') || isTroveError(err, 'INTEGRITY')) || err.data?.unknownVersion) throw err;
      }
    }
    // 2. the truth about packs: one listing
    const files = new Map<string, { pack?: { size: number; mtimeMs?: number }; idx?: boolean; doomed?: { mtimeMs?: number } }>();
    let n = 0;
    for await (const e of this.remote.list(PACKS_PREFIX, { signal: this.o.signal })) {
      n++;
      const m = /^packs\/([0-9a-f]{64})\.(pack|idx|doomed)$/.exec(e.key);
      if (!m) continue;
      const f = files.get(m[1]) ?? {};
      if (m[2] === 'pack') f.pack = { size: e.size, mtimeMs: e.mtimeMs };
      else if (m[2] === 'idx') f.idx = true;
      else f.doomed = { mtimeMs: e.mtimeMs };
      files.set(m[1], f);
    }
    this.checks += 1 + Math.floor(n / 1000);
    const fromInv = new Map((inv?.packs ?? []).map((p) => [p.packId, p]));
    const fetchIdx: string[] = [];
    for (const [id, f] of files) {
      if (f.doomed) v.doomed.set(id, { mtimeMs: f.doomed.mtimeMs, pack: f.pack });
      else if (f.pack && !f.idx) v.orphans.push({ id, ...f.pack });
      if (f.doomed || !f.pack || !f.idx) continue;
      const known = fromInv.get(id);
      if (known && known.packSize === f.pack.size) v.packs.set(id, { id, idx: known, ...f.pack });
      else fetchIdx.push(id);
    }
    // a pack the inventory lacks (a push whose inventory write was lost or is yet to come)
    await Promise.all(fetchIdx.map((id) => this.limit(async () => {
      this.checks++;
      const f = files.get(id)!;
      const buf = await this.readKey(packKey(id, 'idx'));
      if (!buf) return;
      let idx: PackIndex;
      try {
        idx = parsePackIndex(buf, `remote "${this.name}": ${packKey(id, 'idx')}`);
      } catch (err) {
        if (isTroveError(err, 'INTEGRITY')) return; // a bad index hides its pack: what it holds is sent again
        throw err;
      }
      if (idx.packId !== id || idx.packSize !== f.pack!.size) return;
      v.packs.set(id, { id, idx, ...f.pack! });
    })));
    if (fetchIdx.length || [...fromInv.keys()].some((id) => !v.packs.has(id))) v.stale = true;
    // 3. loose objects: claimed by the inventory, or listed now when there is none
    if (inv) {
      for (const oid of inv.loose) v.loose.set(oid, false);
      v.manifests = inv.manifests;
    } else {
      let pages = 0;
      let k = 0;
      for await (const e of this.remote.list(LOOSE_PREFIX, { signal: this.o.signal })) {
        const oid = oidFromLooseKey(e.key);
        if (oid) v.loose.set(oid, true);
        if (++k % 1000 === 0) pages++;
      }
      this.checks += 1 + pages;
      v.stale = true;
    }
    return v;
  }

  /** A small key's bytes, or null when there is none (retried). */
  private async readKey(key: string): Promise<Buffer | null> {
    try {
      return await this.retry(async () => {
        const body = await this.remote.get(key, { signal: this.o.signal });
        return readAll(body, key, this.name);
      });
    } catch (err) {
      if (isTroveError(err, 'NOT_FOUND')) return null;
      throw err;
    }
  }

  /** The live pack that holds `oid`, and where in it. */
  async locate(oid: Oid, kind?: ObjectKind): Promise<{ pack: RemotePack; entry: PackIndexEntry } | null> {
    const v = await this.view();
    for (const pack of v.packs.values()) {
      const entry = pack.idx.find(oid, kind);
      if (entry) return { pack, entry };
    }
    if (kind) {
      // the same bytes under another kind serve as well (a file whose content is a tree's)
      for (const pack of v.packs.values()) {
        const entry = pack.idx.find(oid);
        if (entry) return { pack, entry };
      }
    }
    return null;
  }

  /** Whether the remote holds `oid`: in a live pack, or loose (HEAD unless listed just now). */
  async has(oid: Oid, kind: ObjectKind = 'blob'): Promise<boolean> {
    if (await this.locate(oid, kind)) return true;
    const v = await this.view();
    if (v.loose.get(oid) === true) return true;
    // a manifest the inventory claims: one HEAD of it first (a chunked file is not also loose)
    if (kind === 'blob' && v.manifests?.has(oid) && (await this.hasManifest(oid))) return true;
    if (await this.headLoose(oid)) return true;
    // an inventory that records manifests and names none for it: no manifest HEAD (sending it again is safe)
    return kind === 'blob' && !v.manifests && (await this.hasManifest(oid));
  }

  /**
   * Whether the remote holds chunk `oid`, asking only where something claims it: a listed pack, a
   * loose listing made now, or the inventory's loose claim (re-checked with one HEAD). A chunk none
   * of them names is missing without a request: sending it again is safe, and one HEAD per chunk
   * was most of a chunked push's requests. (Chunks came after the inventory: every trove that
   * writes them records them there, so only a lost concurrent inventory write leaves one unnamed.)
   */
  async hasChunk(oid: Oid): Promise<boolean> {
    if (await this.locate(oid, 'chunk')) return true;
    const seen = (await this.view()).loose.get(oid);
    if (seen === undefined) return false;
    return seen || (await this.headLoose(oid));
  }

  /** Whether the remote holds a manifest for the file `oid` (then its chunks are there: they are put first). */
  async hasManifest(oid: Oid): Promise<boolean> {
    return this.limit(() => this.retry(async () => {
      this.checks++;
      return (await this.remote.stat(manifestKey(oid), { signal: this.o.signal })) !== null;
    }));
  }

  /** The manifest bytes the remote holds for `oid` (unparsed: the caller parses them as hostile input), or null. */
  async readManifest(oid: Oid): Promise<Buffer | null> {
    this.checks++;
    return this.readKey(manifestKey(oid));
  }

  /** Publishes a manifest; the caller has put every chunk it names first. */
  async putManifest(oid: Oid, bytes: Buffer): Promise<void> {
    await this.retry(() => this.remote.putBytes(manifestKey(oid), bytes, { signal: this.o.signal }));
  }

  /** The files the remote holds as manifests (`oid`: the file's), with each manifest's size and upload time. */
  async *listManifests(): AsyncIterable<RemoteObject> {
    for await (const e of this.remote.list(MANIFESTS_PREFIX, { signal: this.o.signal })) {
      const m = /^manifests\/sha256\/([0-9a-f]{2})\/([0-9a-f]{62})$/.exec(e.key);
      if (m) yield { oid: `sha256:${m[1]}${m[2]}` as Oid, size: e.size, mtimeMs: e.mtimeMs };
    }
  }

  private headLoose(oid: Oid): Promise<boolean> {
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
  async present(nodes: Map<Oid, GraphNode>, roots: Oid[], o: { headMax?: number; knownAbsent?: Set<Oid> } = {}): Promise<{ present: Set<Oid>; strategy: 'inventory' | 'head' | 'list' }> {
    const v = await this.view();
    const present = new Set<Oid>();
    const recheck: Oid[] = [];
    const manifestClaims: Oid[] = [];
    for (const [oid, n] of nodes) {
      const big = (n.size ?? 0) > PACK_OBJECT_MAX && !n.children;
      if (await this.locate(oid)) present.add(oid);
      else if (v.loose.get(oid) === true) present.add(oid);
      // a manifest the inventory claims: one HEAD of the manifest before it is skipped
      else if (big && v.manifests?.has(oid) && !v.loose.has(oid)) manifestClaims.push(oid);
      // a loose claim of the inventory; or, with an inventory that does not record manifests, a
      // large object it does not name (HEAD loose, then its manifest). An inventory that records
      // manifests and names neither says it is missing: no request. (Without an inventory, the
      // loose objects were listed just now: what is not listed is not there.)
      else if (v.loose.has(oid) || (v.inventory && !v.manifests && (n.size ?? 0) > PACK_OBJECT_MAX)) recheck.push(oid);
    }
    void roots;
    void o.knownAbsent;
    if (manifestClaims.length) {
      const got = await Promise.all(manifestClaims.map((oid) => this.hasManifest(oid)));
      manifestClaims.forEach((oid, i) => got[i] && present.add(oid));
    }
    if (!recheck.length) return { present, strategy: v.inventory ? 'inventory' : 'list' };
    // loose claims and large objects: HEAD each, or list their prefixes when they are many
    if (recheck.length <= (o.headMax ?? HEAD_MAX)) {
      const got = await Promise.all(recheck.map(async (oid) => (await this.headLoose(oid)) || ((nodes.get(oid)?.size ?? 0) > PACK_OBJECT_MAX && !nodes.get(oid)?.children && (await this.hasManifest(oid)))));
      recheck.forEach((oid, i) => got[i] && present.add(oid));
      return { present, strategy: v.inventory ? 'inventory' : 'head' };
    }
    const want = new Set(recheck);
    const prefixes = new Set<string>();
    for (const oid of recheck) prefixes.add(hexOf(oid).slice(0, 2));
    await Promise.all([...prefixes].map((p) => this.limit(() => this.retry(async () => {
      this.checks++;
      for await (const e of this.remote.list(`${LOOSE_PREFIX}${p}/`, { signal: this.o.signal })) {
        const oid = oidFromLooseKey(e.key);
        if (oid && want.has(oid)) present.add(oid);
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
  async download<T>(oid: Oid, kind: ObjectKind, consume: (body: NodeJS.ReadableStream) => Promise<T>): Promise<T> {
    const at = (await this.locate(oid, kind)) ?? (await this.locateDoomed(oid));
    if (at) {
      // one object out of a pack: a ranged GET of its entry, checked against the index and its hash
      const body = await this.readEntry(at.pack, at.entry);
      const { Readable } = await import('node:stream');
      return consume(Readable.from([body]));
    }
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

  /** One packed object's body, by HTTP Range, verified (INTEGRITY names the pack). */
  async readEntry(pack: RemotePack, e: PackIndexEntry): Promise<Buffer> {
    const got = await this.readRun(pack, [e]);
    return got.get(e)!;
  }

  /**
   * Several objects of one pack in one ranged GET (from the first entry's header to the last one's
   * end; the caller coalesces entries that are close), each verified. Retried whole when the request
   * or the body fails transiently.
   */
  async readRun(pack: RemotePack, entries: PackIndexEntry[], onEntry?: (e: PackIndexEntry, body: Buffer) => Promise<void>): Promise<Map<PackIndexEntry, Buffer>> {
    const sorted = [...entries].sort((a, b) => a.offset - b.offset);
    const done = new Map<PackIndexEntry, Buffer>();
    const key = packKey(pack.id, 'pack');
    await this.retry(async () => {
      const todo = sorted.filter((e) => !done.has(e));
      if (!todo.length) return;
      const start = entryRange(todo[0]).start;
      const end = entryRange(todo[todo.length - 1]).end;
      const body = await this.remote.get(key, { signal: this.o.signal, range: { start, end: end - 1 } });
      const reader = new ByteReader(body as AsyncIterable<Buffer>);
      try {
        let pos = start;
        for (const e of todo) {
          const r = entryRange(e);
          await reader.skip(r.start - pos);
          const bytes = await reader.read(r.end - r.start);
          pos = r.end;
          let b: Buffer;
          try {
            b = Buffer.from(verifyEntryBytes(bytes, e, `remote "${this.name}": ${key}`));
          } catch (err) {
            if (!isTroveError(err, 'INTEGRITY')) throw err;
            throw new TroveError('INTEGRITY', `object ${e.oid} from remote "${this.name}" does not match its name (${err.message})`,
              'the copy on the remote is corrupt; nothing was inserted into the cache. Push a good copy from a clone that has it', { cause: err });
          }
          if (onEntry) await onEntry(e, b);
          done.set(e, onEntry ? NO_BYTES : b); // with onEntry, the caller has the bytes: keep none
        }
      } catch (err) {
        (body as { destroy?: () => void }).destroy?.();
        if (isTroveError(err)) throw err;
        throw new TroveError('REMOTE', `remote "${this.name}": read of ${key} failed midway: ${(err as Error)?.message ?? String(err)}`, undefined, { cause: err, retryable: true });
      }
      (body as { destroy?: () => void }).destroy?.();
    });
    return done;
  }

  /**
   * A whole pack, streamed into the open file `fd` (truncated for each attempt) and checked on the
   * way: the index must describe the pack's layout exactly (entries back to back from the header to
   * the trailer), every entry's header and body must match its index entry and oid, and the trailer
   * must count the entries and carry the checksum that is the pack's id. Memory: one entry plus the
   * chunks in flight. Returns the entries (offset order), or null when the index does not describe a
   * contiguous pack (the caller then reads ranges instead). INTEGRITY when the bytes are wrong (not
   * retried); a body that dies midway is retried whole.
   */
  async downloadPack(pack: RemotePack, fd: number, onBytes?: (n: number) => void): Promise<PackIndexEntry[] | null> {
    const entries = [...pack.idx.entries()].sort((a, b) => a.offset - b.offset);
    let at = PACK_HEADER_SIZE;
    for (const e of entries) {
      if (e.offset !== at + ENTRY_HEADER_SIZE) return null;
      at = e.offset + e.length;
    }
    if (at + PACK_TRAILER_SIZE !== pack.size || pack.idx.packSize !== pack.size) return null;
    const key = packKey(pack.id, 'pack');
    const label = `remote "${this.name}": ${key}`;
    const { ftruncateSync, writeSync } = await import('node:fs');
    await this.retry(async () => {
      ftruncateSync(fd, 0);
      const body = await this.remote.get(key, { signal: this.o.signal });
      const reader = new ByteReader(body as AsyncIterable<Buffer>);
      const hash = createHash('sha256');
      let pos = 0;
      let staged: Buffer[] = [];
      let stagedBytes = 0;
      const out = (b: Buffer, last = false) => {
        if (b.length) { staged.push(b); stagedBytes += b.length; }
        if (stagedBytes >= 1 << 20 || (last && stagedBytes)) {
          const all = staged.length === 1 ? staged[0] : Buffer.concat(staged);
          let off = 0;
          while (off < all.length) off += writeSync(fd, all, off, all.length - off, pos + off);
          pos += all.length;
          onBytes?.(all.length);
          staged = [];
          stagedBytes = 0;
        }
      };
      const need = async (n: number, what: string) => {
        const b = await reader.read(n);
        if (b.length !== n) throw new TroveError('REMOTE', `${label}: the body ended early (${what})`, undefined, { retryable: true });
        return b;
      };
      try {
        const head = await need(PACK_HEADER_SIZE, 'header');
        checkPackHeader(head, label);
        hash.update(head);
        out(head);
        for (const e of entries) {
          const bytes = await need(ENTRY_HEADER_SIZE + e.length, `object ${e.oid}`);
          try {
            verifyEntryBytes(bytes, e, label);
          } catch (err) {
            if (!isTroveError(err, 'INTEGRITY')) throw err;
            throw new TroveError('INTEGRITY', `object ${e.oid} from remote "${this.name}" does not match its name (${err.message})`,
              'the copy on the remote is corrupt; nothing was inserted into the cache. Push a good copy from a clone that has it', { cause: err });
          }
          hash.update(bytes);
          out(bytes); // a view of the network's chunks, which nothing reuses: no copy

        }
        const t = await need(PACK_TRAILER_SIZE, 'trailer');
        if (!t.subarray(0, 8).equals(PACK_END_MAGIC) || t.readUInt32BE(8) !== entries.length || !t.subarray(16).equals(hash.digest()) || t.subarray(16).toString('hex') !== pack.id) {
          throw new TroveError('INTEGRITY', `${label}: the pack's trailer does not match its bytes or its name`,
            'the copy on the remote is corrupt; nothing was inserted into the cache. Push a good copy from a clone that has it');
        }
        out(t, true);
        if ((await reader.read(1)).length) throw new TroveError('INTEGRITY', `${label}: the pack is longer than its index says`);
      } catch (err) {
        (body as { destroy?: () => void }).destroy?.();
        if (isTroveError(err)) throw err;
        throw new TroveError('REMOTE', `${label}: read failed midway: ${(err as Error)?.message ?? String(err)}`, undefined, { cause: err, retryable: true });
      }
      (body as { destroy?: () => void }).destroy?.();
    });
    return entries;
  }

  /**
   * Puts a finished local pack and then its index (index last: a reader never sees an index
   * without its pack). The pack file is read again for each attempt.
   */
  async putPack(file: string, idx: PackIndex, o: { onBytes?: (n: number) => void } = {}): Promise<RemotePack> {
    const { createReadStream } = await import('node:fs');
    await this.retry(() => this.remote.put(packKey(idx.packId, 'pack'), () => createReadStream(file), idx.packSize, { signal: this.o.signal, onBytes: o.onBytes }));
    await this.retry(() => this.remote.putBytes(packKey(idx.packId, 'idx'), idx.bytes(), { signal: this.o.signal }));
    return { id: idx.packId, idx, size: idx.packSize, mtimeMs: Date.now() };
  }

  /** Writes the inventory: these packs, loose objects and (when given) manifests (one atomic put). */
  async writeInventory(packs: Iterable<PackIndex>, loose: Iterable<Oid>, manifests?: Iterable<Oid>): Promise<void> {
    // one entry per pack: a caller's "packs it read" and "packs it published" may overlap (a chunked
    // push refreshes the view after publishing its chunk packs), and a pack listed twice would make
    // every reader refuse the whole inventory
    const byId = new Map<string, PackIndex>();
    for (const p of packs) byId.set(p.packId, p);
    const body = encodeInventory({ packs: [...byId.values()], loose: new Set(loose), manifests: manifests && new Set(manifests) });
    await this.retry(() => this.remote.putBytes(INVENTORY_KEY, body, { signal: this.o.signal }));
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

  /** Every loose object the remote holds, with its size and upload time (packed ones: `view().packs`). */
  async *listLoose(): AsyncIterable<RemoteObject> {
    // a listing is not retried midway (it would repeat keys); backends retry each page
    for await (const e of this.remote.list(LOOSE_PREFIX, { signal: this.o.signal })) {
      const oid = oidFromLooseKey(e.key);
      if (oid) yield { oid, size: e.size, mtimeMs: e.mtimeMs };
    }
  }

  /** Deletes loose objects (missing ones are fine), 1,000 per request. */
  async delete(oids: Oid[]): Promise<void> {
    await this.deleteKeys(oids.map(looseKey));
  }

  /** Deletes keys 1,000 per request (packs, markers). */
  async deleteKeys(keys: string[]): Promise<void> {
    for (let i = 0; i < keys.length; i += 1000) {
      const batch = keys.slice(i, i + 1000);
      await this.retry(() => this.remote.delete(batch));
    }
  }

  /** Marks a pack doomed (gc's first phase): readers treat it as gone from now on. */
  async doom(id: string): Promise<void> {
    await this.retry(() => this.remote.putBytes(packKey(id, 'doomed'), `${new Date().toISOString()}\n`, { signal: this.o.signal }));
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

/** Reads a whole small body (an index, the inventory). */
async function readAll(body: NodeJS.ReadableStream, key: string, remote: string): Promise<Buffer> {
  const parts: Buffer[] = [];
  let n = 0;
  try {
    for await (const c of body as AsyncIterable<Buffer>) {
      n += c.length;
      if (n > 1 << 30) throw new TroveError('REMOTE', `remote "${remote}": ${key} is larger than 1 GiB; it is not an index`);
      parts.push(c);
    }
  } catch (err) {
    (body as { destroy?: () => void }).destroy?.();
    if (isTroveError(err)) throw err;
    throw new TroveError('REMOTE', `remote "${remote}": read of ${key} failed midway: ${(err as Error)?.message ?? String(err)}`, undefined, { cause: err, retryable: true });
  }
  return Buffer.concat(parts);
}

/** Exact-length reads and skips over a stream of chunks (memory: what one read asks for, plus one chunk). */
class ByteReader {
  private chunks: Buffer[] = [];
  private have = 0;
  private readonly it: AsyncIterator<Buffer>;
  constructor(src: AsyncIterable<Buffer>) {
    this.it = src[Symbol.asyncIterator]();
  }
  private async more(): Promise<boolean> {
    const r = await this.it.next();
    if (r.done) return false;
    this.chunks.push(r.value);
    this.have += r.value.length;
    return true;
  }
  /** Up to `n` bytes (fewer only at the end of the stream). */
  async read(n: number): Promise<Buffer> {
    while (this.have < n) if (!(await this.more())) break;
    const all = this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks);
    const out = all.subarray(0, Math.min(n, all.length));
    const rest = all.subarray(out.length);
    this.chunks = rest.length ? [rest] : [];
    this.have = rest.length;
    return out;
  }
  async skip(n: number): Promise<void> {
    while (n > 0) {
      if (!this.have && !(await this.more())) return;
      const head = this.chunks[0];
      const k = Math.min(n, head.length);
      if (k === head.length) this.chunks.shift();
      else this.chunks[0] = head.subarray(k);
      this.have -= k;
      n -= k;
    }
  }
}
