/**
 * The object store: what the rest of trove may ask of the place where objects live.
 *
 * An object is immutable bytes named by their SHA-256 (`oid`), of a logical kind the caller knows
 * from context: a `blob` is a file's content (a pointer of type file, a tree entry of type file, a
 * run's diff), a `tree` is a folder listing (a pointer of type dir, a tree entry of type dir). The
 * store never guesses a kind from bytes; the same bytes may even be stored under both kinds.
 *
 * How an object is represented (a loose file, an entry in a pack, chunks named by a manifest) and
 * where it is on disk are private to the implementation (`loose.ts`, later packs and chunks behind
 * one composite). No module outside `src/core/store/` builds an object's path. Where a caller
 * needs bytes as a file (a remote upload from a path, `git apply`), it asks `withFile`.
 *
 * Implementations: `loose.ts` (the on-disk cache), `memory.ts` (a Map, for in-process tests).
 */
import type { Readable } from 'node:stream';
import type { Oid } from '../oid.js';
import { TroveError } from '../errors.js';

/** The logical kinds: what callers name. */
export type ObjectKind = 'blob' | 'tree';

/** What a store may hold to represent objects: the logical kinds, and the chunks and manifests of chunked blobs. */
export type PartKind = ObjectKind | 'chunk' | 'manifest';

/** How a stored object is put into the workspace. `copy` clones where the filesystem can (FICLONE). */
export type LinkMode = 'reflink' | 'copy' | 'hardlink' | 'symlink';

export interface ObjectRef {
  oid: Oid;
  kind: ObjectKind;
}

export interface ObjectInfo extends ObjectRef {
  /** bytes of the object's content (for a chunked blob: the whole file's, not the parts') */
  size: number;
  /** when it was stored (gc's grace period) */
  mtimeMs: number;
}

/** A unit a remote must hold for an object to be fetchable (see `parts`). */
export interface Part {
  oid: Oid;
  kind: PartKind;
  size: number;
}

export interface PutResult {
  oid: Oid;
  size: number;
  /** false when the object was already there */
  stored: boolean;
  /** bytes this put actually added to the store, when not `size` (a chunked file: only its new chunks) */
  newBytes?: number;
  /**
   * putFileSync of a file the store read through a descriptor: that file's stat (fstat) right after
   * the read, so that the caller's "did it change while it was read?" check needs no lstat by path
   */
  after?: { size: number; mtimeMs: number; ctimeMs: number };
}

/** The kind of the object a pointer or tree entry of this type names. */
export function kindOf(type: 'file' | 'dir'): ObjectKind {
  return type === 'dir' ? 'tree' : 'blob';
}

export interface ObjectStore {
  /** The store's folder (identity: two repos with the same `dir` share a store). Never an object's path. */
  readonly dir: string;
  /** Where partial writes and scratch files go (same filesystem as the store, so rename is atomic). */
  readonly tmpDir: string;
  /** Parsed trees by oid (workspace.readTree); dropped by delete/quarantine. Immutable facts, bounded by the reader. */
  readonly treeMemo: Map<Oid, unknown>;

  has(oid: Oid, kind: ObjectKind): Promise<boolean>;
  /** has() with one synchronous check (~3 µs): for loops over 100k objects where a promise each costs more than the check */
  hasSync(oid: Oid, kind: ObjectKind): boolean;
  /**
   * hasSync for a caller to whom a wrong "no" costs only a second copy (a store about to pack an
   * object it may also hold loose); it may answer "no" from a listing up to a second old.
   */
  mayHaveSync?(oid: Oid, kind: ObjectKind): boolean;
  /** Size and time of a stored object; null when absent or not a sound object (a FIFO where a file should be). */
  stat(oid: Oid, kind: ObjectKind): Promise<ObjectInfo | null>;

  /**
   * The object's bytes as a stream that verifies them: it errors with `INTEGRITY` (naming `what`) if they
   * do not hash to `oid`, before it ends. `MISSING_OBJECT` when absent.
   */
  open(oid: Oid, kind: ObjectKind, what?: string): Promise<Readable>;
  /** The whole object, verified (`INTEGRITY`; `MISSING_OBJECT` when absent). For small things: trees, diffs, records. */
  readSmall(oid: Oid, kind: ObjectKind, what?: string): Buffer;
  /**
   * Runs `fn` with a local file holding the object's bytes, readable only, valid only while `fn` runs
   * (the stored file itself where there is one, else a temp copy). For consumers that take a path
   * (`Remote.put`, `git apply`). The bytes are not verified here: the consumer checks (put's sha256).
   */
  withFile<T>(oid: Oid, kind: ObjectKind, fn: (file: string, size: number) => Promise<T>): Promise<T>;
  /** Re-hashes one object; false for bytes that do not match or anything but a sound object. */
  verify(oid: Oid, kind: ObjectKind): Promise<boolean>;

  /** Stores a workspace file, hashing while copying (each byte read once, memory flat). */
  putFile(src: string, kind: ObjectKind, o?: { onBytes?: (n: number) => void }): Promise<PutResult>;
  /** putFile for small files (≤ SYNC_FILE) with synchronous calls: `size` is the lstat size (a file that grew is refused) */
  putFileSync(src: string, size: number, kind: ObjectKind): PutResult;
  /** Stores bytes already in memory (trees, small records). */
  putBytes(data: Buffer | string, kind: ObjectKind): Promise<Oid>;
  /**
   * putBytes with synchronous calls, for many small objects in a row (a pull inserting what it
   * read out of remote packs): through the thread pool each insert cost ~6 promises and thread
   * hops. Optional: callers fall back to putBytes where a store lacks it.
   */
  putBytesSync?(data: Buffer, kind: ObjectKind): Oid;
  /**
   * Inserts an object that arrives as a stream (a download), verified before it becomes visible:
   * a mismatch is `INTEGRITY` naming `what`, and nothing is inserted. Returns the bytes read.
   */
  putStream(expected: Oid, kind: ObjectKind, body: Readable | NodeJS.ReadableStream, what: string, onBytes?: (n: number) => void): Promise<number>;

  /** Every stored object with its kind, size and time (names that are not objects are skipped). Memory flat. */
  list(): AsyncIterable<ObjectInfo>;
  /** Removes objects, in the order given (gc passes trees first). Absent ones are fine. */
  delete(refs: ObjectRef[]): Promise<void>;
  /** Moves a corrupt object aside (never deletes it); returns where it went. */
  quarantine(oid: Oid, kind: ObjectKind): Promise<string>;

  /**
   * Writes the object to `dest` (whose parent exists) by `mode`; the result appears atomically.
   * Returns the mode used (hardlink falls back to copy across filesystems; objects the store does not
   * hold as a plain file are always copied).
   */
  materialize(oid: Oid, dest: string, mode: LinkMode, exec: boolean): Promise<LinkMode>;
  /** materialize() with synchronous calls, for small objects; `fresh`: dest is known not to exist */
  materializeSync(oid: Oid, dest: string, mode: LinkMode, exec: boolean, fresh: boolean): LinkMode;
  /** The blob a workspace symlink made by `materialize(…, 'symlink')` names; null for any other link. */
  linkedBlob(linkAbs: string): Oid | null;

  /** What a remote must hold for this object to be fetchable: itself, or for a chunked blob its manifest and chunks. */
  parts(oid: Oid, kind: ObjectKind): Promise<Part[]>;
  /** Whether one part is stored (a manifest: with every chunk it names). A store without chunks holds only blob/tree parts. */
  hasPart(part: Part): Promise<boolean>;
  /** The bytes of one part as stored, verified where the part names its own bytes (a chunk, a blob, a tree). */
  openPart(part: Part, what?: string): Promise<Readable>;
  /**
   * Inserts one part arriving from a remote, verified before it is visible (INTEGRITY, nothing inserted).
   * A manifest is refused (MISSING_OBJECT) until all its chunks are stored. A store that does not keep
   * chunks refuses chunk and manifest parts (`keepsChunks` says which).
   */
  putPart(part: Part, body: Readable | NodeJS.ReadableStream, what: string): Promise<number>;
  /** Whether a blob of `size` bytes that arrives as chunks should be stored as chunks (else: reassembled whole). */
  keepsChunks(size: number): boolean;

  /** A token that changes whenever an object may leave the store (delete, quarantine): see loose.ts. */
  generation(): string;
  /** Many removals with the generation bumped once before and once after. */
  removals<T>(fn: () => Promise<T>): Promise<T>;
  /** Makes every object stored so far durable; run before writing anything that names them. */
  syncToDisk(): Promise<void>;
  /** A fresh scratch path on the store's filesystem (for a file that is then `putFile`d). */
  tempPath(): Promise<string>;
  /** Removes temp files of trove processes that are gone; returns how many. */
  cleanStaleTemp(): Promise<number>;
  /** Temp files present now (fsck reports them). */
  countTemp(): Promise<number>;
}

/**
 * The part methods of a store that keeps no chunks (loose, packed, memory): an object is its own single
 * part, and a chunk or manifest part is refused. One copy, used by each such store.
 */
export const wholeParts = {
  async has(store: ObjectStore, part: Part): Promise<boolean> {
    return part.kind === 'blob' || part.kind === 'tree' ? store.has(part.oid, part.kind) : false;
  },
  async open(store: ObjectStore, part: Part, what = `${part.kind} ${part.oid}`): Promise<Readable> {
    if (part.kind !== 'blob' && part.kind !== 'tree') throw new TroveError('MISSING_OBJECT', `${what}: this store keeps no ${part.kind}s`, 'ask for the whole object');
    return store.open(part.oid, part.kind, what);
  },
  async put(store: ObjectStore, part: Part, body: Readable | NodeJS.ReadableStream, what: string): Promise<number> {
    if (part.kind !== 'blob' && part.kind !== 'tree') throw new TroveError('BAD_INPUT', `${what}: this store keeps no ${part.kind}s`, 'insert the whole object with putStream');
    return store.putStream(part.oid, part.kind, body, what);
  },
};
