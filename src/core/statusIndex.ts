import { closeSync, openSync, readFileSync, renameSync, rmSync, writeSync, type Stats } from 'node:fs';
import { crc32 } from 'node:zlib';
import { isErrno } from './errors.js';
import { hexOf, oidFromHex, type Oid } from './oid.js';
import { tempBeside } from './tempName.js';

/**
 * The status index (`.trove/status-index`): what `status`, `add` and `ls` know about the workspace
 * without reading data. It replaces wave 1's SQLite stat rows (`.trove/state.db`), whose load alone
 * cost ~85 ms of a 20,000-file status (plus loading better-sqlite3 itself).
 *
 * It is loaded with one read and written whole (temp + rename) only when something changed. Rows are
 * grouped per folder, so a folder whose files all match can be vouched for without decoding anything
 * but its names and stats, and a folder that a scan saw whole also keeps its tree oid: when every
 * file of a folder matches and its sub-folders are all vouched for, `status` reuses that oid instead of
 * rebuilding and hashing the tree. git's racy rule holds: a row recorded less than RACY_MS after the
 * file's mtime is not trusted (an edit in the same clock tick keeps mtime and size), so such a file is
 * hashed again, and its folder's tree oid is not trusted either.
 *
 * Layout, version 1 (little-endian; `str` is a u32 byte length + UTF-8):
 *   "TROVSIDX" · u32 version · u32 folder count
 *   per folder: str repo-relative path · u8 flags (1 = tree known) · 32 B tree sha256 · f64 tree size
 *     · f64 tree file count · u32 sub-folder count · u32 row count · u32 row bytes · rows
 *   per row: str name · u8 flags (1 = executable) · f64 dev, ino, size, mtime ms, ctime ms, recorded ms
 *     · 32 B oid sha256
 *   str cache generation · u32 tree count · 32 B per tree known complete in the cache
 *   u32 CRC-32 of everything before it
 * A file that is short, fails its CRC, or has another magic or version is not trusted: it is ignored
 * and rebuilt by the next scan (it is a cache of what hashing would tell; losing it costs time only).
 * Concurrent writers: the last rename wins, and since every row is keyed by the full stat, a stale
 * row can only match a file whose stat did not change, so a lost update costs a re-hash, never a
 * wrong answer.
 */
export const STATUS_INDEX_FILE = 'status-index';
export const STATUS_INDEX_VERSION = 1;
const MAGIC = Buffer.from('TROVSIDX', 'latin1');
/** Rows recorded less than this after the file's mtime are "racy" and not trusted (ms). */
export const RACY_MS = 1000;

export interface StatKey {
  dev: number;
  ino: number;
  size: number;
  /** ms since the epoch as the double lstat gives (sub-µs resolution; compared for equality only) */
  mtime: number;
  ctime: number;
}

/**
 * Plain-number stats: BigInt stats (exact ns) cost one BigInt per field per file, which made the
 * garbage collector the top entry of a `status` profile on 20,000 files. A double holds ms since the
 * epoch to ~0.2 µs, and the values are only compared for equality with what the same call returned.
 */
export function statKey(st: Stats): StatKey {
  return { dev: st.dev, ino: st.ino, size: st.size, mtime: st.mtimeMs, ctime: st.ctimeMs };
}

export interface Row extends StatKey {
  exec: boolean;
  oid: Oid;
  recorded: number;
}

export interface TreeRecord {
  oid: Oid;
  size: number;
  count: number;
  subdirs: number;
}

/** One folder: its rows, decoded from the loaded buffer on first use. */
interface Folder {
  tree: TreeRecord | null;
  rows: Map<string, Row> | null;
  /** encoded rows (a view into the loaded file) until decoded */
  raw: Buffer | null;
  rowCount: number;
}

const ROW_FIXED = 1 + 6 * 8 + 32;

export class StatusIndex {
  private folders = new Map<string, Folder>();
  private completeTrees = new Set<string>();
  private generation = '';
  private dirty = false;
  /** why the file on disk was not used ('missing', 'corrupt', 'version 7', …); null when it was */
  readonly loadProblem: string | null;

  private constructor(readonly file: string, problem: string | null) {
    this.loadProblem = problem;
  }

  /** An empty index that will be written to `file`. */
  static empty(file: string, why: string | null = 'missing'): StatusIndex {
    return new StatusIndex(file, why);
  }

  /** Loads `file` in one read; anything unreadable gives an empty index (rebuilt on the next scan). */
  static load(file: string): StatusIndex {
    let buf: Buffer;
    try {
      buf = readFileSync(file);
    } catch (err) {
      if (isErrno(err, 'ENOENT', 'ENOTDIR')) return new StatusIndex(file, 'missing');
      throw err;
    }
    try {
      return StatusIndex.decode(file, buf);
    } catch (err) {
      if (!(err instanceof IndexFormatError)) throw err;
      const idx = new StatusIndex(file, err.message);
      idx.dirty = true; // replace the bad file even if the next scan finds nothing new
      return idx;
    }
  }

  private static decode(file: string, buf: Buffer): StatusIndex {
    if (buf.length < MAGIC.length + 12 || !buf.subarray(0, MAGIC.length).equals(MAGIC)) throw new IndexFormatError('not a status index');
    const version = buf.readUInt32LE(8);
    if (version !== STATUS_INDEX_VERSION) throw new IndexFormatError(`version ${version}`);
    const body = buf.length - 4;
    if (crc32(buf.subarray(0, body)) !== buf.readUInt32LE(body)) throw new IndexFormatError('corrupt (checksum)');
    const idx = new StatusIndex(file, null);
    const r = new Reader(buf, body);
    const nFolders = r.u32(12);
    r.pos = 16;
    for (let i = 0; i < nFolders; i++) {
      const rel = r.str();
      const flags = r.u8();
      const treeOid = r.hex32();
      const size = r.f64();
      const count = r.f64();
      const subdirs = r.u32(r.pos);
      r.pos += 4;
      const rowCount = r.u32(r.pos);
      const rowBytes = r.u32(r.pos + 4);
      r.pos += 8;
      r.need(rowBytes);
      const raw = buf.subarray(r.pos, r.pos + rowBytes);
      r.pos += rowBytes;
      idx.folders.set(rel, { tree: flags & 1 ? { oid: treeOid, size, count, subdirs } : null, rows: null, raw, rowCount });
    }
    idx.generation = r.str();
    const nTrees = r.u32(r.pos);
    r.pos += 4;
    r.need(nTrees * 32);
    for (let i = 0; i < nTrees; i++) idx.completeTrees.add(buf.toString('hex', r.pos + i * 32, r.pos + i * 32 + 32));
    r.pos += nTrees * 32;
    if (r.pos !== body) throw new IndexFormatError('corrupt (trailing bytes)');
    return idx;
  }

  // ------------------------------------------------------------ rows

  private folderRows(dir: string): Map<string, Row> | null {
    const f = this.folders.get(dir);
    if (!f) return null;
    if (!f.rows) {
      f.rows = decodeRows(f.raw!, f.rowCount);
      f.raw = null;
    }
    return f.rows;
  }

  /** The rows of one folder (name → row), or null; do not modify. */
  rowsOf(dir: string): ReadonlyMap<string, Row> | null {
    return this.folderRows(dir);
  }

  /**
   * Whether the rows of `dir` are exactly `files` with matching stats, none racy, compared straight
   * from the loaded bytes: no row object, name string or oid is made, which at 100,000 files was
   * ~250 ms of decoding plus the garbage collection after it. Rows are stored in the order the last
   * full scan listed the folder (readdir order, stable while the folder is unchanged); a different
   * order, a non-ASCII name or a folder already decoded answers false, and the caller compares row
   * by row instead. Sets no oid: `oidsOf` decodes them when someone needs them.
   */
  rowsMatchExactly(dir: string, files: ReadonlyMap<string, StatKey & { exec: boolean }>): boolean {
    const f = this.folders.get(dir);
    if (!f || !f.raw || f.rowCount !== files.size) return false;
    const raw = f.raw;
    let p = 0;
    for (const [name, k] of files) {
      const n = raw.readUInt32LE(p);
      p += 4;
      if (n !== name.length) return false;
      for (let i = 0; i < n; i++) if (name.charCodeAt(i) !== raw[p + i]) return false; // ASCII only: a UTF-8 byte never equals a code unit ≥ 128
      p += n;
      if ((raw[p] === 1) !== k.exec) return false;
      const mtime = raw.readDoubleLE(p + 25);
      if (raw.readDoubleLE(p + 17) !== k.size || mtime !== k.mtime || raw.readDoubleLE(p + 33) !== k.ctime
        || raw.readDoubleLE(p + 9) !== k.ino || raw.readDoubleLE(p + 1) !== k.dev || raw.readDoubleLE(p + 41) - mtime < RACY_MS) return false;
      p += ROW_FIXED;
    }
    return true;
  }

  /**
   * A cursor over the rows of `dir` straight from the loaded bytes, for the walk's fast path
   * (statusWalk.ts): the walk hands it each file as it lstats it, and the cursor says whether the
   * next row is that file, unchanged and not racy. Null when the index does not know the folder or
   * its rows were decoded (changed in this process); a folder with sub-folders only has zero rows.
   */
  cursor(dir: string): RowCursor | null {
    const f = this.folders.get(dir);
    return f && f.raw ? new RowCursor(f.raw, f.rowCount) : null;
  }

  /** Puts the rows of `dir` in this order (the walk's), so that rowsMatchExactly can compare in one pass. */
  orderRows(dir: string, names: Iterable<string>): void {
    const rows = this.folderRows(dir);
    if (!rows) return;
    const next = new Map<string, Row>();
    for (const n of names) {
      const r = rows.get(n);
      if (r) next.set(n, r);
    }
    for (const [n, r] of rows) if (!next.has(n)) next.set(n, r);
    const f = this.folders.get(dir)!;
    let same = next.size === rows.size;
    if (same) {
      const a = rows.keys();
      for (const n of next.keys()) if (a.next().value !== n) { same = false; break; }
    }
    if (!same) {
      f.rows = next;
      this.dirty = true;
    }
  }

  /** The oid the row for `rel` vouches for, when the stat matches and the row is not racy. */
  lookup(rel: string, key: StatKey): Oid | null {
    const [dir, name] = splitRel(rel);
    const r = this.folderRows(dir)?.get(name);
    return r && rowMatches(r, key, false) ? r.oid : null;
  }

  /** Like lookup, but trusts racily-clean rows: for listings that say "probably", never for decisions. */
  lookupLoose(rel: string, key: StatKey): Oid | null {
    const [dir, name] = splitRel(rel);
    const r = this.folderRows(dir)?.get(name);
    return r && rowMatches(r, key, true) ? r.oid : null;
  }

  /** Upserts rows (recorded now); the folders they are in, and every folder above, lose their tree oid. */
  record(entries: Iterable<{ path: string; key: StatKey; oid: Oid; exec?: boolean }>, now = Date.now()): void {
    for (const e of entries) {
      const [dir, name] = splitRel(e.path);
      let rows = this.folderRows(dir);
      if (!rows) {
        rows = new Map();
        this.folders.set(dir, { tree: null, rows, raw: null, rowCount: 0 });
      }
      const { dev, ino, size, mtime, ctime } = e.key;
      rows.set(name, { dev, ino, size, mtime, ctime, exec: !!e.exec, oid: e.oid, recorded: now });
      this.invalidateUp(dir);
    }
  }

  /** Records what a scan saw of one folder: its tree, valid as long as its rows and sub-folders match. */
  recordTree(dir: string, tree: TreeRecord): void {
    const f = this.folders.get(dir);
    if (!f) this.folders.set(dir, { tree, rows: new Map(), raw: null, rowCount: 0 });
    else {
      if (f.tree && f.tree.oid === tree.oid && f.tree.subdirs === tree.subdirs) return;
      f.tree = tree;
    }
    this.dirty = true;
  }

  /** The tree a folder had when last scanned whole (trust it only after its rows are checked). */
  treeOf(dir: string): TreeRecord | null {
    return this.folders.get(dir)?.tree ?? null;
  }

  /** Drops rows of `dir` not in `keep` (files deleted since); returns whether any went. */
  pruneRows(dir: string, keep: (name: string) => boolean): boolean {
    const rows = this.folderRows(dir);
    if (!rows) return false;
    let gone = false;
    for (const name of rows.keys()) {
      if (!keep(name)) {
        rows.delete(name);
        gone = true;
      }
    }
    if (gone) this.invalidateUp(dir);
    return gone;
  }

  /** Folders strictly below `dir` that the index knows. */
  foldersBelow(dir: string): string[] {
    const pre = dir === '' ? '' : dir + '/';
    return [...this.folders.keys()].filter((k) => k !== dir && k.startsWith(pre));
  }

  /** Forgets a path and everything below it. */
  forget(rel: string): void {
    const pre = rel + '/';
    for (const k of [...this.folders.keys()]) {
      if (k === rel || k.startsWith(pre)) {
        this.folders.delete(k);
        this.dirty = true;
      }
    }
    const [dir, name] = splitRel(rel);
    if (this.folderRows(dir)?.delete(name)) this.dirty = true;
    this.invalidateUp(dir);
  }

  private invalidateUp(dir: string): void {
    this.dirty = true;
    for (let d: string | null = dir; d !== null; d = parentOf(d)) {
      const f = this.folders.get(d);
      if (f?.tree) f.tree = null;
    }
  }

  get size(): number {
    let n = 0;
    for (const f of this.folders.values()) n += f.rows ? f.rows.size : f.rowCount;
    return n;
  }

  // ------------------------------------------------------------ trees known complete in the cache

  /**
   * Tree oids whose whole subtree (every tree and file object below) was seen in the cache, valid for
   * one cache generation (see Cache.generation: any delete or quarantine changes it).
   */
  knownComplete(treeOid: Oid, generation: string): boolean {
    return generation === this.generation && this.completeTrees.has(hexOf(treeOid));
  }

  markComplete(treeOids: Iterable<Oid>, generation: string): void {
    if (generation !== this.generation) {
      this.completeTrees.clear();
      this.generation = generation;
      this.dirty = true;
    }
    for (const oid of treeOids) {
      const hex = hexOf(oid);
      if (!this.completeTrees.has(hex)) {
        this.completeTrees.add(hex);
        this.dirty = true;
      }
    }
    // bounded: a memo, not a catalogue of the cache (oldest first out)
    while (this.completeTrees.size > 200_000) this.completeTrees.delete(this.completeTrees.values().next().value!);
  }

  // ------------------------------------------------------------ writing

  /** Makes the next save write the file even if nothing changed (after a migration, say). */
  touch(): void {
    this.dirty = true;
  }

  get isDirty(): boolean {
    return this.dirty;
  }

  encode(): Buffer {
    const parts: Buffer[] = [];
    this.encodeTo((chunk) => parts.push(Buffer.from(chunk)));
    return Buffer.concat(parts);
  }

  /**
   * The file's bytes, handed to `out` in pieces of about 1 MiB (each valid only during the call):
   * save() writes them as they come, so that memory holds one piece, not the whole file (~10 MB at
   * 100,000 rows, at the peak of `add`'s memory).
   */
  private encodeTo(out: (chunk: Buffer) => void): void {
    const piece = new Piece(out);
    let nFolders = 0;
    for (const f of this.folders.values()) if ((f.rows ? f.rows.size : f.rowCount) || f.tree) nFolders++;
    let b = piece.room(16);
    MAGIC.copy(b, piece.at);
    b.writeUInt32LE(STATUS_INDEX_VERSION, piece.at + 8);
    b.writeUInt32LE(nFolders, piece.at + 12);
    piece.at += 16;
    for (const [rel, f] of this.folders) {
      const rowCount = f.rows ? f.rows.size : f.rowCount;
      if (!rowCount && !f.tree) continue;
      const nameLen = Buffer.byteLength(rel, 'utf8');
      const rowsLen = f.rows ? rowsLength(f.rows) : f.raw!.length;
      b = piece.room(4 + nameLen + 1 + 32 + 16 + 12 + rowsLen);
      let p = b.writeUInt32LE(nameLen, piece.at);
      p += b.write(rel, p, 'utf8');
      p = b.writeUInt8(f.tree ? 1 : 0, p);
      if (f.tree) b.write(hexOf(f.tree.oid), p, 32, 'hex');
      else b.fill(0, p, p + 32);
      p += 32;
      p = b.writeDoubleLE(f.tree?.size ?? 0, p);
      p = b.writeDoubleLE(f.tree?.count ?? 0, p);
      p = b.writeUInt32LE(f.tree?.subdirs ?? 0, p);
      p = b.writeUInt32LE(rowCount, p);
      p = b.writeUInt32LE(rowsLen, p);
      piece.at = f.rows ? encodeRowsInto(f.rows, b, p) : p + f.raw!.copy(b, p);
    }
    const genLen = Buffer.byteLength(this.generation, 'utf8');
    b = piece.room(8 + genLen);
    let p = b.writeUInt32LE(genLen, piece.at);
    p += b.write(this.generation, p, 'utf8');
    piece.at = b.writeUInt32LE(this.completeTrees.size, p);
    for (const hex of this.completeTrees) {
      b = piece.room(32);
      piece.at += b.write(hex, piece.at, 32, 'hex');
    }
    piece.end();
  }

  /**
   * Writes the index if it changed: temp file + rename, so a reader sees the old or the new whole
   * file (a torn one fails its CRC and is rebuilt).
   */
  save(): void {
    if (!this.dirty) return;
    const tmp = tempBeside(this.file);
    try {
      let fd: number;
      try {
        fd = openSync(tmp, 'wx', 0o644);
      } catch (err) {
        // a read-only .trove (someone else's clone, a read-only mount): status still answers, it
        // only cannot remember what it hashed, as a read-only git index does not stop `git status`
        if (isErrno(err, 'EACCES', 'EPERM', 'EROFS')) return;
        throw err;
      }
      try {
        // no fsync: this file is a cache, and one torn by a crash fails its CRC and is rebuilt;
        // fsync of ~10 MB (100,000 rows) was a visible part of a status after one file changed
        this.encodeTo((chunk) => {
          for (let off = 0; off < chunk.length;) off += writeSync(fd, chunk, off, chunk.length - off);
        });
      } finally {
        closeSync(fd);
      }
      renameSync(tmp, this.file);
      this.dirty = false;
    } finally {
      rmSync(tmp, { force: true });
    }
  }
}

/**
 * The stat fields a row holds, laid out as in a row (dev, ino, size, mtime ms, ctime ms: five
 * little-endian doubles), so that one native byte compare checks all five against the row: ~5×
 * fewer instructions per file than five readDoubleLE calls, which run as JavaScript. Big-endian
 * hosts (none that Node ships for today) compare field by field instead.
 */
const SCRATCH = new Float64Array(5);
const SCRATCH_BYTES = Buffer.from(SCRATCH.buffer);
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** See StatusIndex.cursor. Each call to next() consumes one row; a false answer ends its use. */
export class RowCursor {
  private p = 0;
  private left: number;
  /** files matched so far and their bytes */
  count = 0;
  bytes = 0;

  private readonly dv: DataView;

  constructor(private readonly raw: Buffer, rowCount: number) {
    this.left = rowCount;
    this.dv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  }

  /** Whether the next row is the file `name` with exactly this stat and exec bit, recorded non-racily. */
  next(name: string, st: Stats): boolean {
    if (this.left === 0) return false;
    const raw = this.raw;
    let p = this.p;
    const n = this.dv.getUint32(p, true);
    p += 4;
    if (n !== name.length) return false;
    for (let i = 0; i < n; i++) if (name.charCodeAt(i) !== raw[p + i]) return false; // ASCII only: a UTF-8 byte never equals a code unit ≥ 128
    p += n;
    if ((raw[p] === 1) !== ((st.mode & 0o100) !== 0)) return false;
    const mtime = st.mtimeMs;
    const dv = this.dv;
    if (dv.getFloat64(p + 25, true) !== mtime || dv.getFloat64(p + 17, true) !== st.size || dv.getFloat64(p + 33, true) !== st.ctimeMs
      || dv.getFloat64(p + 9, true) !== st.ino || dv.getFloat64(p + 1, true) !== st.dev) return false;
    if (dv.getFloat64(p + 41, true) - mtime < RACY_MS) return false;
    this.p = p + ROW_FIXED;
    this.left--;
    this.count++;
    this.bytes += st.size;
    return true;
  }

  /** True once every row was matched: the folder holds exactly these files. */
  get done(): boolean {
    return this.left === 0;
  }
}

class IndexFormatError extends Error {}

class Reader {
  pos = 0;
  constructor(private buf: Buffer, private end: number) {}
  need(n: number): void {
    if (this.pos + n > this.end) throw new IndexFormatError('truncated');
  }
  u8(): number {
    this.need(1);
    return this.buf[this.pos++];
  }
  u32(at: number): number {
    if (at + 4 > this.end) throw new IndexFormatError('truncated');
    return this.buf.readUInt32LE(at);
  }
  f64(): number {
    this.need(8);
    const v = this.buf.readDoubleLE(this.pos);
    this.pos += 8;
    return v;
  }
  hex32(): Oid {
    this.need(32);
    const v = oidFromHex(this.buf.toString('hex', this.pos, this.pos + 32));
    this.pos += 32;
    return v;
  }
  str(): string {
    const n = this.u32(this.pos);
    this.pos += 4;
    this.need(n);
    const s = this.buf.toString('utf8', this.pos, this.pos + n);
    this.pos += n;
    return s;
  }
}

function decodeRows(raw: Buffer, count: number): Map<string, Row> {
  const rows = new Map<string, Row>();
  let p = 0;
  for (let i = 0; i < count; i++) {
    if (p + 4 > raw.length) throw new IndexFormatError('truncated row');
    const n = raw.readUInt32LE(p);
    p += 4;
    if (p + n + ROW_FIXED > raw.length) throw new IndexFormatError('truncated row');
    const name = raw.toString('utf8', p, p + n);
    p += n;
    const exec = raw[p] === 1;
    p += 1;
    const dev = raw.readDoubleLE(p);
    const ino = raw.readDoubleLE(p + 8);
    const size = raw.readDoubleLE(p + 16);
    const mtime = raw.readDoubleLE(p + 24);
    const ctime = raw.readDoubleLE(p + 32);
    const recorded = raw.readDoubleLE(p + 40);
    p += 48;
    const oid = oidFromHex(raw.toString('hex', p, p + 32));
    p += 32;
    rows.set(name, { dev, ino, size, mtime, ctime, exec, oid, recorded });
  }
  return rows;
}

/**
 * A 1 MiB staging buffer for StatusIndex.encodeTo: `room(n)` hands out the buffer with n bytes free at
 * `at` (a bigger one for a folder larger than that), passing on what is full; `end` appends the CRC-32
 * of every byte passed on and passes on the rest.
 */
class Piece {
  private buf = Buffer.allocUnsafe(1 << 20);
  private crc = 0;
  at = 0;

  constructor(private readonly out: (chunk: Buffer) => void) {}

  room(n: number): Buffer {
    if (this.at + n <= this.buf.length) return this.buf;
    this.pass();
    if (n > this.buf.length) this.buf = Buffer.allocUnsafe(n);
    return this.buf;
  }

  private pass(): void {
    if (this.at === 0) return;
    const chunk = this.buf.subarray(0, this.at);
    this.crc = crc32(chunk, this.crc);
    this.out(chunk);
    this.at = 0;
  }

  end(): void {
    this.pass();
    const tail = Buffer.alloc(4);
    tail.writeUInt32LE(this.crc >>> 0, 0);
    this.out(tail);
  }
}

function rowsLength(rows: Map<string, Row>): number {
  let len = 0;
  for (const name of rows.keys()) len += 4 + Buffer.byteLength(name) + ROW_FIXED;
  return len;
}

/** Writes rows at `p` in `b` (sized by rowsLength); returns where they end. */
function encodeRowsInto(rows: Map<string, Row>, b: Buffer, p: number): number {
  for (const [name, r] of rows) {
    const n = b.write(name, p + 4, 'utf8');
    b.writeUInt32LE(n, p);
    p += 4 + n;
    b[p++] = r.exec ? 1 : 0;
    p = b.writeDoubleLE(r.dev, p);
    p = b.writeDoubleLE(r.ino, p);
    p = b.writeDoubleLE(r.size, p);
    p = b.writeDoubleLE(r.mtime, p);
    p = b.writeDoubleLE(r.ctime, p);
    p = b.writeDoubleLE(r.recorded, p);
    p += b.write(hexOf(r.oid), p, 'hex');
  }
  return p;
}

/** Whether a row vouches for a file with this stat (strict: not racily clean). */
export function rowMatches(r: Row, k: StatKey, loose: boolean): boolean {
  if (r.size !== k.size || r.mtime !== k.mtime || r.ctime !== k.ctime || r.ino !== k.ino || r.dev !== k.dev) return false;
  return loose || r.recorded - r.mtime >= RACY_MS;
}

function splitRel(rel: string): [string, string] {
  const i = rel.lastIndexOf('/');
  return i < 0 ? ['', rel] : [rel.slice(0, i), rel.slice(i + 1)];
}

function parentOf(dir: string): string | null {
  if (dir === '') return null;
  const i = dir.lastIndexOf('/');
  return i < 0 ? '' : dir.slice(0, i);
}
