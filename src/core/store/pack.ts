/**
 * The pack file: many small objects in one append-only file, so that `add` of 100,000 small files
 * creates a few files instead of 100,000 (file creation is what costs, ~0.7 ms of kernel CPU each
 * here). The same format is used in the local cache and on remotes. This module knows bytes and
 * files only; it has no idea of a store, a cache layout or a remote (see packed.ts for the store).
 *
 * Byte layout, version 1 (all integers big-endian):
 * ```
 * header   16 bytes   "TROVPACK" (8 ASCII) | version u32 = 1 | flags u32 = 0
 * entry    41 bytes   kind u8 (1 blob, 2 tree, 3 chunk, 4 manifest) | oid 32 bytes (raw SHA-256 of the body)
 *                     | length u64 (body bytes)
 *          length     the object's bytes, exactly as stored loose (no compression in version 1)
 * ...      entries repeat; bodies are never shared, never overlap
 * trailer  48 bytes   "TROVPEND" (8 ASCII) | count u32 (entries) | reserved u32 = 0
 *                     | SHA-256 (32 bytes) of every byte before the trailer
 * ```
 * The pack's id is the lowercase hex of that trailer checksum, so a pack's name names its content:
 * `<id>.pack` beside its index `<id>.idx` (packIndex.ts). Each entry repeats its kind, oid and length
 * so that a pack alone is enough to rebuild its index (`scanPack`) and so that a byte range read
 * (HTTP Range on a remote) can be checked against the index it came from (`verifyEntryBytes`).
 *
 * Writing: `PackWriter` appends into a file the caller names (a temp path), hashing as it goes;
 * memory is one object plus a 1 MiB write buffer. `finish()` writes the
 * trailer and fsyncs. Placing the file (rename, index last) is the caller's job: a pack without an
 * index is invisible to readers.
 *
 * Reading: `PackReader` reads one object by its index entry (offset, length), checks the entry
 * header against the index, and verifies the body's SHA-256 before returning it; a stream errors
 * with INTEGRITY at its end if the bytes do not hash to the oid.
 */
import { createHash, type Hash } from 'node:crypto';
import { closeSync, constants as fsc, fstatSync, fsync, fsyncSync, ftruncateSync, openSync, promises as fsp, readSync, rmSync, writeSync } from 'node:fs';
import { Readable } from 'node:stream';
import { TroveError } from '../errors.js';
import { OffloadedChecksum } from './packChecksum.js';
import { hexOf, isOid, oidFromHex, type Oid } from '../oid.js';

/** One object in a pack: `offset` is where its body starts in the pack file, `length` its bytes. */
export interface PackIndexEntry {
  oid: Oid;
  kind: PackKind;
  offset: number;
  length: number;
}

/**
 * What a reader checks a pack against on open: the facts its index (packIndex.ts `PackIndex`) records.
 * Structural, so that this module does not import the index module (which imports this one).
 */
export interface PackFacts {
  readonly packSize: number;
  readonly packId: string;
  readonly count: number;
}

/** What an object in a pack is. The kind is stored, never guessed from bytes. */
export type PackKind = 'blob' | 'tree' | 'chunk' | 'manifest';

export const PACK_VERSION = 1;
export const PACK_MAGIC = Buffer.from('TROVPACK', 'ascii');
export const PACK_END_MAGIC = Buffer.from('TROVPEND', 'ascii');
export const PACK_HEADER_SIZE = 16;
export const ENTRY_HEADER_SIZE = 41;
export const PACK_TRAILER_SIZE = 48;

const KIND_CODES: Record<PackKind, number> = { blob: 1, tree: 2, chunk: 3, manifest: 4 };
const KINDS_BY_CODE: (PackKind | undefined)[] = [undefined, 'blob', 'tree', 'chunk', 'manifest'];

export function kindCode(kind: PackKind): number {
  const c = KIND_CODES[kind];
  if (!c) throw new TypeError(`not a pack object kind: ${String(kind)}`);
  return c;
}

/** The kind for a stored code, or undefined for a code this version does not know. */
export function kindOfCode(code: number): PackKind | undefined {
  return KINDS_BY_CODE[code];
}

/** A malformed pack or index: INTEGRITY, naming the file and what is wrong with it. */
export function badPack(file: string, what: string): TroveError {
  return new TroveError('INTEGRITY', `${file}: ${what}`,
    'run `trove fsck` to check the packs and quarantine what is corrupt, then `trove pull` to fetch good copies', { data: { file } });
}

/** A u64 read as a JS number; values above 2^53 cannot be offsets or lengths of a real file. */
export function readU64(buf: Buffer, at: number, file: string, field: string): number {
  const v = buf.readBigUInt64BE(at);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw badPack(file, `${field} ${v} is out of range`);
  return Number(v);
}

/**
 * The writer's key for (kind, oid): a blob's is its oid itself (the string its caller holds anyway, so
 * 100,000 blobs make no key strings), other kinds' are `kind:oid` (never equal to an oid: no "sha256:" in front).
 */
function seenKey(kind: PackKind, oid: Oid): string {
  return kind === 'blob' ? oid : `${kind}:${oid}`;
}

function entryHeader(kind: PackKind, oid: Oid, length: number): Buffer {
  const h = Buffer.alloc(ENTRY_HEADER_SIZE);
  writeEntryHeader(h, 0, kind, oid, length);
  return h;
}

function writeEntryHeader(buf: Buffer, at: number, kind: PackKind, oid: Oid, length: number): void {
  buf[at] = kindCode(kind);
  if (buf.write(hexOf(oid), at + 1, 32, 'hex') !== 32) throw new TypeError(`not an oid: ${oid}`);
  buf.writeUInt32BE(Math.floor(length / 2 ** 32), at + 33);
  buf.writeUInt32BE(length >>> 0, at + 37);
}

function packHeader(): Buffer {
  const h = Buffer.alloc(PACK_HEADER_SIZE);
  PACK_MAGIC.copy(h, 0);
  h.writeUInt32BE(PACK_VERSION, 8);
  return h;
}

/** Checks a pack's first 16 bytes; throws INTEGRITY naming `file` when they are not a version-1 pack header. */
export function checkPackHeader(h: Buffer, file: string): void {
  if (h.length < PACK_HEADER_SIZE) throw badPack(file, `truncated pack: ${h.length} bytes, shorter than the ${PACK_HEADER_SIZE}-byte header`);
  if (!h.subarray(0, 8).equals(PACK_MAGIC)) throw badPack(file, 'not a trove pack (wrong magic)');
  const version = h.readUInt32BE(8);
  if (version !== PACK_VERSION) throw badPack(file, `pack version ${version} is not supported (this trove reads version ${PACK_VERSION}); upgrade trove`);
  if (h.readUInt32BE(12) !== 0) throw badPack(file, `pack flags ${h.readUInt32BE(12)} are not supported`);
}

/** What `PackWriter.finish()` tells: the id (hex checksum), size in bytes and one entry per object. */
export interface FinishedPack {
  id: string;
  size: number;
  entries: PackIndexEntry[];
}

/** Appended bytes are gathered up to this much before one write (100,000 × 1 KiB objects: ~100 writes, not 200,000). */
const WRITE_BUFFER = 1 << 20;
/**
 * An offloaded writer hands its checksum to the worker only when its first MiB holds objects of 4 KiB
 * or more on average: then the checksum is a large share of the main thread's work (20,000 × 16 KiB:
 * ~200 ms of ~1.3 s). With 1 KiB objects per-file work dominates (100,000 × 1 KiB: the checksum is
 * ~60 ms of ~2 s) and the worker's ~10 MB would lift that add's peak RSS past 200 MB (measured 206).
 */
const OFFLOAD_MIN_AVERAGE = 4 << 10;
/** the buffer's size: room past WRITE_BUFFER for one small file read into it (readFileInto) */
const WRITE_CAPACITY = WRITE_BUFFER + (64 << 10) + ENTRY_HEADER_SIZE + 1;

/**
 * Appends objects to a new pack file at `file` (which must not exist: opened with O_EXCL).
 *
 * ```ts
 * const w = PackWriter.create(tmp);
 * const oid = w.add('blob', bytes);           // hashes, appends, returns the oid
 * const pack = await w.finish();              // trailer + fsync; pack.id, pack.entries
 * await fsp.rename(tmp, `${dir}/${pack.id}.pack`);
 * ```
 * An object (oid, kind) added twice is stored once. Memory: one object plus a 1 MiB write buffer. Writes are
 * synchronous: they are few (buffered) and small objects arrive from synchronous reads anyway.
 */
export class PackWriter {
  /** the running pack checksum, when it is computed here (see `sum` for the other way) */
  private hash?: Hash;
  /** the pack checksum computed on a worker thread (packChecksum.ts), for writers made with `offload` */
  private sum?: OffloadedChecksum;
  /** set while the trailer is written: a pack that is flushed for the first time then is hashed inline */
  private finishing = false;
  /** by seenKey: the same bytes may be stored under two kinds */
  private readonly seen = new Map<string, PackIndexEntry>();
  private readonly order: PackIndexEntry[] = [];
  /** logical size: bytes written plus bytes buffered (always flushed + wlen) */
  private pos = 0;
  private flushed = 0;
  /**
   * The write buffer: appended bytes are copied here and written (and folded into the pack checksum)
   * in one go when it fills. Copying is cheaper than what it replaced (a list of the callers' buffers,
   * concatenated at each write, and one checksum update per object), and `readFileInto` reads small
   * files straight into it, so that no buffer per file is allocated.
   */
  private wbuf?: Buffer;
  private wlen = 0;
  /** the body that the last readFileInto read (at wlen + ENTRY_HEADER_SIZE), until commitRead or the next call */
  private staged = -1;
  private done = false;
  /** finished by finishUnsynced: the file stays open until durable()/durableSync() */
  private unsynced = false;
  private syncing = false;
  private fdClosed = false;

  private constructor(readonly file: string, private readonly fd: number, private readonly offload: boolean) {}

  /**
   * `offload`: compute the pack checksum on a worker thread once the pack outgrows its write buffer
   * (packChecksum.ts; the local store's pending pack during an add). The bytes and the id are the same.
   */
  static create(file: string, o: { offload?: boolean } = {}): PackWriter {
    const fd = openSync(file, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL, 0o444);
    const w = new PackWriter(file, fd, o.offload === true);
    w.append(packHeader());
    return w;
  }

  /** Bytes in the pack so far (header and entries); callers start a new pack when it passes their limit. */
  get bytes(): number {
    return this.pos;
  }

  get count(): number {
    return this.order.length;
  }

  has(oid: Oid, kind: PackKind): boolean {
    return this.seen.has(seenKey(kind, oid));
  }

  /** The entry of an object added to this (unfinished) pack. */
  entry(oid: Oid, kind: PackKind): PackIndexEntry | undefined {
    return this.seen.get(seenKey(kind, oid));
  }

  /** Every entry added so far, in the order written. */
  entries(): readonly PackIndexEntry[] {
    return this.order;
  }

  /**
   * The body of an object added to this unfinished pack, read back from the file (the write buffer
   * is flushed first). Not verified again: these bytes were hashed on their way in.
   */
  readBack(e: PackIndexEntry): Buffer {
    this.flush();
    const fd = openSync(this.file, fsc.O_RDONLY);
    try {
      const buf = Buffer.allocUnsafe(e.length);
      if (readFully(fd, buf, e.offset) !== e.length) throw badPack(this.file, `truncated: object ${e.oid}`);
      return buf;
    } finally {
      closeSync(fd);
    }
  }

  private append(buf: Buffer): void {
    this.staged = -1;
    if (buf.length > WRITE_BUFFER) {
      // a large body goes out as it is, after what is buffered
      this.flush();
      this.writeOut(buf);
      this.pos += buf.length;
      return;
    }
    if (this.wlen + buf.length > WRITE_CAPACITY) this.flush();
    this.wbuf ??= Buffer.allocUnsafe(WRITE_CAPACITY);
    buf.copy(this.wbuf, this.wlen);
    this.wlen += buf.length;
    this.pos += buf.length;
    if (this.wlen >= WRITE_BUFFER) this.flush();
  }

  private flush(): void {
    this.staged = -1;
    if (this.wlen === 0) return;
    const n = this.wlen;
    this.wlen = 0;
    this.writeOut(this.wbuf!.subarray(0, n));
  }

  /** Writes bytes at the end of what is written, and folds them into the pack checksum. */
  private writeOut(buf: Buffer): void {
    // the first write holds every byte from the start: it decides where the checksum is computed
    if (!this.hash && !this.sum) {
      if (this.offload && !this.finishing && this.pos >= this.order.length * OFFLOAD_MIN_AVERAGE) this.sum = OffloadedChecksum.start(this.file) ?? undefined;
      if (!this.sum) this.hash = createHash('sha256');
    }
    this.hash?.update(buf);
    let off = 0;
    while (off < buf.length) off += writeSync(this.fd, buf, off, buf.length - off, this.flushed + off);
    this.flushed += buf.length;
    this.sum?.wrote(this.flushed);
  }

  /** The running checksum taken back from the worker: the bytes written so far, hashed here from the file. */
  private checksumInline(): Hash {
    if (this.hash) return this.hash;
    this.sum?.drop();
    this.sum = undefined;
    this.hash = hashFileRange(this.file, this.flushed);
    return this.hash;
  }

  /**
   * Reads a small file (open as `fd`, `size` bytes when it was listed) straight into the write buffer,
   * behind room for its entry header, and returns its bytes: a view that is valid until the next call
   * on this writer. `commitRead` then appends them as an object, under the oid the caller computed
   * from them; anything else discards them. Null when the file holds more than `size` bytes (it grew:
   * the caller takes the general path) or `size` is too large for the buffer (over 64 KiB).
   */
  readFileInto(fd: number, size: number): Buffer | null {
    this.checkOpen();
    this.staged = -1;
    const need = ENTRY_HEADER_SIZE + size + 1;
    if (need > WRITE_CAPACITY - WRITE_BUFFER) return null;
    if (this.wlen + need > WRITE_CAPACITY) this.flush();
    this.wbuf ??= Buffer.allocUnsafe(WRITE_CAPACITY);
    const at = this.wlen + ENTRY_HEADER_SIZE;
    // one byte more than listed: a read that fills it means the file grew. Stops at `size` as
    // readFileSync does (one read per file), at the end of the file, or past `size`
    let got = 0;
    while (got < size + 1) {
      const n = readSync(fd, this.wbuf, at + got, size + 1 - got, null);
      if (n === 0) break;
      got += n;
      if (got === size) break;
    }
    if (got > size) return null;
    this.staged = got;
    return this.wbuf.subarray(at, at + got);
  }

  /** Appends the bytes the last `readFileInto` returned as object `oid` (computed by the caller from them). */
  commitRead(kind: PackKind, oid: Oid): void {
    this.checkOpen();
    if (this.staged < 0) throw new Error('commitRead without a readFileInto before it');
    const length = this.staged;
    this.staged = -1;
    if (this.seen.has(seenKey(kind, oid))) return;
    writeEntryHeader(this.wbuf!, this.wlen, kind, oid, length);
    const entry: PackIndexEntry = { oid, kind, offset: this.pos + ENTRY_HEADER_SIZE, length };
    this.wlen += ENTRY_HEADER_SIZE + length;
    this.pos += ENTRY_HEADER_SIZE + length;
    this.seen.set(seenKey(kind, oid), entry);
    this.order.push(entry);
    if (this.wlen >= WRITE_BUFFER) this.flush();
  }

  private checkOpen(): void {
    if (this.done) throw new Error(`pack ${this.file} is already finished`);
  }

  /**
   * Appends one object held in memory. With `expected`, the body must hash to it (INTEGRITY
   * otherwise, nothing appended), unless `o.hashedBy` says the caller just computed it from the body. Returns the object's oid. The body is not copied: do not
   * change it until the writer is finished.
   */
  add(kind: PackKind, body: Buffer, expected?: Oid, o: { hashedBy?: 'caller' } = {}): Oid {
    this.checkOpen();
    kindCode(kind);
    // hashedBy 'caller': `expected` was computed from these very bytes a moment ago (the store's put
    // paths); hashing 100,000 small objects twice cost ~15 % of add's CPU
    const oid = o.hashedBy === 'caller' && expected ? expected : oidFromHex(createHash('sha256').update(body).digest('hex'));
    if (expected !== undefined && oid !== expected) {
      throw new TroveError('INTEGRITY', `${this.file}: object bytes hash to ${oid}, expected ${expected}`, 'the source is corrupt; nothing was added to the pack');
    }
    if (this.seen.has(seenKey(kind, oid))) return oid;
    this.append(entryHeader(kind, oid, body.length));
    const entry: PackIndexEntry = { oid, kind, offset: this.pos, length: body.length };
    this.append(body);
    this.seen.set(seenKey(kind, oid), entry);
    this.order.push(entry);
    return oid;
  }

  /**
   * Appends one object read from a stream of exactly `length` bytes that must hash to `oid`
   * (a download, a large object). Memory is the stream's chunks. On a mismatch (wrong bytes, too
   * many or too few) or a stream error, the pack is rolled back to before this entry and the
   * error is thrown (INTEGRITY for a mismatch); the writer stays usable.
   */
  async addStream(kind: PackKind, oid: Oid, length: number, body: AsyncIterable<Buffer | Uint8Array>): Promise<void> {
    this.checkOpen();
    kindCode(kind);
    if (!isOid(oid)) throw new TypeError(`not an oid: ${String(oid)}`);
    if (!Number.isSafeInteger(length) || length < 0) throw new TypeError(`bad length ${length}`);
    if (this.seen.has(seenKey(kind, oid))) {
      for await (const _ of body) { /* drain: the object is already in this pack */ }
      return;
    }
    this.flush();
    const start = this.pos;
    // a rollback needs the checksum as it was before this entry: computed here from now on
    const packHashBefore = this.checksumInline().copy();
    const objHash = createHash('sha256');
    let got = 0;
    let fail: string | undefined;
    try {
      this.append(entryHeader(kind, oid, length));
      for await (const chunk of body) {
        const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
        got += buf.length;
        if (got > length) { fail = `more than the ${length} bytes expected`; break; }
        objHash.update(buf);
        this.append(Buffer.from(buf)); // a copy: the stream may reuse its buffer
      }
      if (!fail && got !== length) fail = `${got} bytes, expected ${length}`;
      if (!fail) {
        const h = oidFromHex(objHash.digest('hex'));
        if (h !== oid) fail = `bytes hash to ${h}`;
      }
    } catch (err) {
      this.rollback(start, packHashBefore);
      throw err;
    }
    if (fail) {
      this.rollback(start, packHashBefore);
      throw new TroveError('INTEGRITY', `${this.file}: object ${oid}: ${fail}`, 'the source is corrupt; nothing was added to the pack');
    }
    const entry: PackIndexEntry = { oid, kind, offset: start + ENTRY_HEADER_SIZE, length };
    this.seen.set(seenKey(kind, oid), entry);
    this.order.push(entry);
  }

  private rollback(to: number, hashAt: Hash): void {
    this.wlen = 0;
    this.staged = -1;
    ftruncateSync(this.fd, to);
    this.pos = to;
    this.flushed = to;
    // the running pack checksum must not include the discarded bytes: continue from a copy taken before them
    this.hash = hashAt;
  }

  /** Writes the trailer, fsyncs and closes the file. The pack is complete; it is not yet named or indexed. */
  async finish(): Promise<FinishedPack> {
    this.checkOpen();
    try {
      const t = this.trailer();
      await new Promise<void>((resolve, reject) => fsync(this.fd, (err) => (err ? reject(err) : resolve())));
      return t;
    } finally {
      this.closeFd();
    }
  }

  /** finish() with a synchronous fsync (for a process-exit hook, where nothing async runs). */
  finishSync(): FinishedPack {
    this.checkOpen();
    try {
      const t = this.trailer();
      fsyncSync(this.fd);
      return t;
    } finally {
      this.closeFd();
    }
  }

  private trailer(): FinishedPack {
    this.finishing = true;
    this.flush(); // folds what is buffered into the checksum
    this.done = true;
    const t = Buffer.alloc(PACK_TRAILER_SIZE);
    PACK_END_MAGIC.copy(t, 0);
    t.writeUInt32BE(this.order.length, 8);
    let sum = this.sum?.digestSync(this.flushed) ?? null;
    if (!sum) {
      this.sum = undefined; // no answer from the worker: hashed here, from the file
      sum = this.checksumInline().digest();
    }
    sum.copy(t, 16);
    let off = 0; // the trailer is not part of the checksum it carries
    while (off < t.length) off += writeSync(this.fd, t, off, t.length - off, this.flushed + off);
    this.flushed += t.length;
    this.pos += t.length;
    return { id: sum.toString('hex'), size: this.pos, entries: this.order.slice() };
  }

  /**
   * finish() in two steps, for a caller that goes on with other work while the disk catches up: the
   * trailer now (the pack's id and entries are final), then `durable()` (fsync on the thread pool) or
   * `durableSync()`, either of which closes the file. The pack must not be named or indexed before.
   */
  finishUnsynced(): FinishedPack {
    this.checkOpen();
    this.unsynced = true;
    return this.trailer();
  }

  /** After finishUnsynced: fsync on the thread pool, then close. */
  durable(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (this.fdClosed) return resolve();
      this.syncing = true;
      fsync(this.fd, (err) => {
        this.syncing = false;
        this.closeFd();
        if (err) reject(err);
        else resolve();
      });
    });
  }

  /** After finishUnsynced: fsync now (also while a durable() is under way: that one then closes the file). */
  durableSync(): void {
    if (this.fdClosed) return; // a durable() has finished
    fsyncSync(this.fd);
    if (!this.syncing) this.closeFd();
  }

  private closeFd(): void {
    this.sum?.drop();
    if (this.fdClosed) return;
    this.fdClosed = true;
    try { closeSync(this.fd); } catch { /* already closed */ }
  }

  /** Gives up on the pack: closes the file and removes it. */
  abort(): void {
    if (!this.done || this.unsynced) {
      this.done = true;
      if (!this.syncing) this.closeFd();
    }
    rmSync(this.file, { force: true });
  }
}

/**
 * The byte range of one entry in its pack, header included: `[start, end)`. A remote read of just
 * this range (HTTP Range) is checked by `verifyEntryBytes`.
 */
export function entryRange(e: PackIndexEntry): { start: number; end: number } {
  return { start: e.offset - ENTRY_HEADER_SIZE, end: e.offset + e.length };
}

/**
 * Checks the bytes of `entryRange(e)` (entry header + body) against the index entry and the body's
 * SHA-256; returns the body. `file` names the pack in the error.
 */
export function verifyEntryBytes(bytes: Buffer, e: PackIndexEntry, file: string): Buffer {
  if (bytes.length !== ENTRY_HEADER_SIZE + e.length) throw badPack(file, `object ${e.oid}: ${bytes.length} bytes read, expected ${ENTRY_HEADER_SIZE + e.length}`);
  checkEntryHeader(bytes.subarray(0, ENTRY_HEADER_SIZE), e, file);
  const body = bytes.subarray(ENTRY_HEADER_SIZE);
  const got = oidFromHex(createHash('sha256').update(body).digest('hex'));
  if (got !== e.oid) throw badPack(file, `object ${e.oid} is corrupt (its bytes hash to ${got})`);
  return body;
}

function checkEntryHeader(h: Buffer, e: PackIndexEntry, file: string): void {
  const kind = kindOfCode(h.readUInt8(0));
  const oid = oidFromHex(h.subarray(1, 33).toString('hex'));
  const length = readU64(h, 33, file, 'entry length');
  if (kind !== e.kind || oid !== e.oid || length !== e.length) {
    throw badPack(file, `entry at offset ${e.offset - ENTRY_HEADER_SIZE} does not match the index (pack has ${kind ?? 'unknown kind'} ${oid} of ${length} bytes, index says ${e.kind} ${e.oid} of ${e.length})`);
  }
}

/**
 * Reads objects from one pack through its parsed index. On open, the pack's size, entry count and
 * trailer checksum must be the ones the index was written for, and its header a version-1 header.
 * (The whole-pack checksum is not re-hashed on open: each object is verified when it is read, and
 * `scanPack` re-hashes everything for fsck.)
 */
export class PackReader {
  private constructor(readonly file: string, readonly index: PackFacts, private fd: number) {}

  /** Opens `file` for `index` (see parsePackIndex). Throws INTEGRITY naming the file when they do not belong together. */
  static open(file: string, index: PackFacts): PackReader {
    const fd = openSync(file, fsc.O_RDONLY | fsc.O_NONBLOCK);
    try {
      const st = fstatSync(fd);
      if (!st.isFile()) throw badPack(file, 'not a regular file');
      if (st.size !== index.packSize) throw badPack(file, `pack is ${st.size} bytes, its index says ${index.packSize}`);
      const h = Buffer.alloc(PACK_HEADER_SIZE);
      readFully(fd, h, 0);
      checkPackHeader(h, file);
      const t = Buffer.alloc(PACK_TRAILER_SIZE);
      readFully(fd, t, st.size - PACK_TRAILER_SIZE);
      if (!t.subarray(0, 8).equals(PACK_END_MAGIC)) throw badPack(file, 'truncated pack: no trailer');
      if (t.subarray(16).toString('hex') !== index.packId) throw badPack(file, `pack checksum ${t.subarray(16).toString('hex').slice(0, 12)}… is not the one its index names (${index.packId.slice(0, 12)}…)`);
      if (t.readUInt32BE(8) !== index.count) throw badPack(file, `pack holds ${t.readUInt32BE(8)} entries, its index lists ${index.count}`);
      return new PackReader(file, index, fd);
    } catch (err) {
      closeSync(fd);
      throw err;
    }
  }

  close(): void {
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
  }

  /** The object's bytes, whole and verified. Synchronous: packed objects are small (see cache.readBytesSync on why). */
  readSync(e: PackIndexEntry): Buffer {
    const { start, end } = entryRange(e);
    const buf = Buffer.allocUnsafe(end - start);
    const n = readFully(this.fd, buf, start);
    if (n !== buf.length) throw badPack(this.file, `truncated: object ${e.oid} ends past the end of the pack`);
    return Buffer.from(verifyEntryBytes(buf, e, this.file));
  }

  /**
   * readSync into the caller's scratch buffer (used when it is large enough): the verified body is a
   * view of it, valid until the scratch is reused. Checkout writes each object out at once; in a CPU
   * profile of checkout of 20,000 × 16 KiB, a buffer per object and the GC it caused cost more than hashing.
   */
  readIntoSync(e: PackIndexEntry, scratch: Buffer): Buffer {
    const { start, end } = entryRange(e);
    const buf = end - start <= scratch.length ? scratch.subarray(0, end - start) : Buffer.allocUnsafe(end - start);
    const n = readFully(this.fd, buf, start);
    if (n !== buf.length) throw badPack(this.file, `truncated: object ${e.oid} ends past the end of the pack`);
    return verifyEntryBytes(buf, e, this.file);
  }

  /**
   * The object's bytes as a stream of 1 MiB reads; the stream errors with INTEGRITY (naming the pack)
   * if the header does not match the index or the body does not hash to the oid.
   */
  stream(e: PackIndexEntry): Readable {
    const fd = this.fd;
    const file = this.file;
    const CHUNK = 1 << 20;
    let pos = e.offset;
    const end = e.offset + e.length;
    const hash = createHash('sha256');
    let checkedHeader = false;
    return new Readable({
      read() {
        try {
          if (!checkedHeader) {
            const h = Buffer.alloc(ENTRY_HEADER_SIZE);
            if (readFully(fd, h, e.offset - ENTRY_HEADER_SIZE) !== h.length) throw badPack(file, `truncated: entry for ${e.oid}`);
            checkEntryHeader(h, e, file);
            checkedHeader = true;
          }
          if (pos >= end) {
            const got = oidFromHex(hash.digest('hex'));
            if (got !== e.oid) throw badPack(file, `object ${e.oid} is corrupt (its bytes hash to ${got})`);
            this.push(null);
            return;
          }
          const buf = Buffer.allocUnsafe(Math.min(CHUNK, end - pos));
          const n = readFully(fd, buf, pos);
          if (n !== buf.length) throw badPack(file, `truncated: object ${e.oid} ends past the end of the pack`);
          pos += n;
          hash.update(buf);
          this.push(buf);
        } catch (err) {
          this.destroy(err as Error);
        }
      },
    });
  }
}

function readFully(fd: number, buf: Buffer, at: number): number {
  let off = 0;
  while (off < buf.length) {
    const n = readSync(fd, buf, off, buf.length - off, at + off);
    if (n === 0) break;
    off += n;
  }
  return off;
}

/** One entry found by `scanPack`: where it is, and whether its bytes hash to its oid. */
export interface ScannedEntry extends PackIndexEntry {
  ok: boolean;
}

/** What `scanPack` found: every readable entry, and whether the whole pack is intact. */
export interface PackScan {
  entries: ScannedEntry[];
  /** the trailer is present, its count matches and its checksum covers exactly the bytes before it */
  trailerOk: boolean;
  /** the pack's id from its trailer (null when the trailer is missing or wrong) */
  id: string | null;
  /** why the scan stopped early or the trailer is not right; null when the pack is intact */
  problem: string | null;
}

/**
 * Reads a pack from start to end without its index, verifying each entry's body against its oid and
 * the trailer's checksum: for `fsck` (which good objects survive in a damaged pack) and to rebuild a
 * lost index. Memory is one entry header plus 1 MiB. Throws only when the file is not a version-1
 * pack at all (wrong magic or version); damage further in is reported in the result.
 */
export async function scanPack(file: string): Promise<PackScan> {
  const fh = await fsp.open(file, fsc.O_RDONLY | fsc.O_NONBLOCK);
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw badPack(file, 'not a regular file');
    const size = st.size;
    const read = async (len: number, at: number) => {
      const buf = Buffer.allocUnsafe(len);
      let off = 0;
      while (off < len) {
        const { bytesRead } = await fh.read(buf, off, len - off, at + off);
        if (bytesRead === 0) break;
        off += bytesRead;
      }
      return buf.subarray(0, off);
    };
    checkPackHeader(await read(PACK_HEADER_SIZE, 0), file);
    const packHash = createHash('sha256');
    packHash.update(await read(PACK_HEADER_SIZE, 0));
    const entries: ScannedEntry[] = [];
    let pos = PACK_HEADER_SIZE;
    let problem: string | null = null;
    const CHUNK = 1 << 20;
    // an entry needs a trailer after it, so where 48 bytes or fewer are left only the trailer can follow
    while (size - pos > PACK_TRAILER_SIZE) {
      const h = await read(ENTRY_HEADER_SIZE, pos);
      if (h.length < ENTRY_HEADER_SIZE) { problem = `truncated entry header at offset ${pos}`; break; }
      const kind = kindOfCode(h.readUInt8(0));
      if (!kind) { problem = `unknown object kind ${h.readUInt8(0)} at offset ${pos}`; break; }
      const oid = oidFromHex(h.subarray(1, 33).toString('hex'));
      const len = h.readBigUInt64BE(33);
      if (len > BigInt(size - pos - ENTRY_HEADER_SIZE)) { problem = `entry at offset ${pos} (${oid}) runs past the end of the pack`; break; }
      const length = Number(len);
      packHash.update(h);
      const objHash = createHash('sha256');
      let at = pos + ENTRY_HEADER_SIZE;
      const end = at + length;
      while (at < end) {
        const b = await read(Math.min(CHUNK, end - at), at);
        objHash.update(b);
        packHash.update(b);
        at += b.length;
      }
      entries.push({ oid, kind, offset: pos + ENTRY_HEADER_SIZE, length, ok: oidFromHex(objHash.digest('hex')) === oid });
      pos = end;
    }
    let trailerOk = false;
    let id: string | null = null;
    if (!problem) {
      const t = await read(PACK_TRAILER_SIZE, pos);
      if (t.length !== PACK_TRAILER_SIZE || !t.subarray(0, 8).equals(PACK_END_MAGIC)) problem = `truncated: no trailer at offset ${pos}`;
      else if (t.readUInt32BE(8) !== entries.length) problem = `trailer counts ${t.readUInt32BE(8)} entries, the pack holds ${entries.length}`;
      else if (!t.subarray(16).equals(packHash.digest())) problem = 'trailer checksum does not match the pack\'s bytes';
      else {
        trailerOk = true;
        id = t.subarray(16).toString('hex');
      }
    }
    if (!problem && entries.some((e) => !e.ok)) problem = `${entries.filter((e) => !e.ok).length} object(s) are corrupt`;
    return { entries, trailerOk, id, problem };
  } finally {
    await fh.close();
  }
}

/** SHA-256 state over a file's first `length` bytes (the pack checksum when the worker could not give it). */
function hashFileRange(file: string, length: number): Hash {
  const h = createHash('sha256');
  const fd = openSync(file, fsc.O_RDONLY);
  try {
    const buf = Buffer.allocUnsafe(Math.min(length, 1 << 20) || 1);
    for (let at = 0; at < length;) {
      const n = readSync(fd, buf, 0, Math.min(buf.length, length - at), at);
      if (n === 0) throw badPack(file, `truncated while being written (${at} of ${length} bytes)`);
      h.update(n === buf.length ? buf : buf.subarray(0, n));
      at += n;
    }
  } finally {
    closeSync(fd);
  }
  return h;
}
