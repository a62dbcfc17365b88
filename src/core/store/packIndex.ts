/**
 * The pack index: for one pack (pack.ts), which objects it holds and where. Sorted by oid so a
 * lookup is a binary search over the file's bytes as read (no parse into objects: 56 bytes of
 * memory per object, whatever the number of packs).
 *
 * Byte layout, version 1 (all integers big-endian):
 * ```
 * header   56 bytes      "TROVPIDX" (8 ASCII) | version u32 = 1 | count u32
 *                        | pack checksum 32 bytes (the pack's trailer SHA-256 = the pack's id)
 *                        | pack size u64 (bytes of the whole pack file)
 * entries  count × 56    oid 32 bytes (raw SHA-256) | offset u64 (of the body, in the pack)
 *                        | length u64 (body bytes) | kind u8 (1 blob, 2 tree, 3 chunk, 4 manifest)
 *                        | reserved 7 bytes = 0
 *                        sorted by (oid bytes, kind), strictly: the same bytes may be stored
 *                        under two kinds (a file whose content is a tree's), never twice as one
 * trailer  32 bytes      SHA-256 of every byte before it
 * ```
 * Parsing treats the bytes as hostile: the length must be exactly header + count × 56 + 32, the
 * checksum must match, (oid, kind) strictly ascending, kinds known, reserved bytes zero, and every body
 * must lie inside the pack's entry area (after the 16-byte header and the 41-byte entry header,
 * before the 48-byte trailer) without overlapping another entry (header included).
 * Anything else is INTEGRITY naming the file.
 */
import { createHash } from 'node:crypto';
import { hexOf, isOid, oidFromHex, type Oid } from '../oid.js';
import { badPack, ENTRY_HEADER_SIZE, kindCode, kindOfCode, PACK_HEADER_SIZE, PACK_TRAILER_SIZE, readU64, type PackIndexEntry, type PackKind } from './pack.js';

export const PACK_INDEX_VERSION = 1;
export const PACK_INDEX_MAGIC = Buffer.from('TROVPIDX', 'ascii');
const HEADER = 56;
const ENTRY = 56;
const TRAILER = 32;

export type { PackIndexEntry };

/**
 * Encodes the index for a pack (entries in any order; they are sorted here). Throws a TypeError on
 * entries that could never come from a pack writer ((oid, kind) twice, negative offset): a bug, not input.
 *
 * ```ts
 * const pack = await writer.finish();
 * await writeFileAtomic(`${dir}/${pack.id}.idx`, encodePackIndex(pack.id, pack.size, pack.entries));
 * ```
 */
export function encodePackIndex(packId: string, packSize: number, entries: readonly PackIndexEntry[]): Buffer {
  if (!/^[0-9a-f]{64}$/.test(packId)) throw new TypeError(`not a pack id: ${packId}`);
  // sorted by (oid, kind code): lowercase hex sorts as its bytes do, so the oid strings are compared
  // as they are (no key buffer per entry: 100,000 of them cost ~0.2 s here)
  const sorted = entries.map((e) => ({ e, code: kindCode(e.kind) }));
  sorted.sort((a, b) => (a.e.oid < b.e.oid ? -1 : a.e.oid > b.e.oid ? 1 : a.code - b.code));
  const buf = Buffer.alloc(HEADER + sorted.length * ENTRY + TRAILER);
  PACK_INDEX_MAGIC.copy(buf, 0);
  buf.writeUInt32BE(PACK_INDEX_VERSION, 8);
  buf.writeUInt32BE(sorted.length, 12);
  Buffer.from(packId, 'hex').copy(buf, 16);
  buf.writeBigUInt64BE(BigInt(packSize), 48);
  let at = HEADER;
  for (let i = 0; i < sorted.length; i++) {
    const { e, code } = sorted[i];
    if (i > 0 && sorted[i - 1].e.oid === e.oid && sorted[i - 1].code === code) throw new TypeError(`${e.kind} ${e.oid} twice in one pack index`);
    if (!isOid(e.oid) || !Number.isSafeInteger(e.offset) || e.offset < 0 || !Number.isSafeInteger(e.length) || e.length < 0) {
      throw new TypeError(`bad pack index entry ${JSON.stringify(e)}`);
    }
    buf.write(hexOf(e.oid), at, 32, 'hex');
    writeU64(buf, e.offset, at + 32);
    writeU64(buf, e.length, at + 40);
    buf[at + 48] = code;
    at += ENTRY;
  }
  createHash('sha256').update(buf.subarray(0, at)).digest().copy(buf, at);
  return buf;
}

/** A safe integer as a big-endian u64, without a BigInt. */
function writeU64(buf: Buffer, v: number, at: number): void {
  buf.writeUInt32BE(Math.floor(v / 2 ** 32), at);
  buf.writeUInt32BE(v >>> 0, at + 4);
}

/**
 * A parsed, validated index. Lookups binary-search the bytes; nothing per object is allocated
 * until an entry is asked for.
 */
export class PackIndex {
  private constructor(
    /** the file the index was read from (named in errors) */
    readonly file: string,
    private readonly buf: Buffer,
    readonly count: number,
    /** hex SHA-256 from the pack's trailer: the pack's id */
    readonly packId: string,
    readonly packSize: number,
  ) {}

  /**
   * Validates `buf` as a version-1 index (see the header comment for every check). `file` names
   * the index in errors. Throws INTEGRITY on anything malformed.
   */
  static parse(buf: Buffer, file: string): PackIndex {
    if (buf.length < HEADER + TRAILER) throw badPack(file, `truncated pack index: ${buf.length} bytes, shorter than header and trailer (${HEADER + TRAILER})`);
    if (!buf.subarray(0, 8).equals(PACK_INDEX_MAGIC)) throw badPack(file, 'not a trove pack index (wrong magic)');
    const version = buf.readUInt32BE(8);
    if (version !== PACK_INDEX_VERSION) throw badPack(file, `pack index version ${version} is not supported (this trove reads version ${PACK_INDEX_VERSION}); upgrade trove`);
    const count = buf.readUInt32BE(12);
    const want = HEADER + count * ENTRY + TRAILER;
    if (buf.length !== want) throw badPack(file, `pack index is ${buf.length} bytes; its ${count} entries need exactly ${want} (truncated or padded)`);
    const body = buf.subarray(0, buf.length - TRAILER);
    if (!createHash('sha256').update(body).digest().equals(buf.subarray(buf.length - TRAILER))) throw badPack(file, 'pack index checksum does not match its bytes');
    const packId = buf.subarray(16, 48).toString('hex');
    const packSize = readU64(buf, 48, file, 'pack size');
    const areaStart = PACK_HEADER_SIZE;
    const areaEnd = packSize - PACK_TRAILER_SIZE;
    if (areaEnd < areaStart) throw badPack(file, `pack size ${packSize} is smaller than a pack's header and trailer`);
    // Per entry, plain reads only: a BigInt per u64 field, a native call per oid compare and a sort
    // with a JS comparator made this loop ~100 ms for 126,000 entries, paid by the first read of any
    // packed object (a `status` after one file changed lists the change from the stored trees).
    const u64 = (at: number, field: string): number => {
      const hi = buf.readUInt32BE(at);
      if (hi > 0x1fffff) return readU64(buf, at, file, field); // above 2^53 - 1: readU64 names it
      return hi * 0x1_0000_0000 + buf.readUInt32BE(at + 4);
    };
    const offsets = new Float64Array(count);
    const lengths = new Float64Array(count);
    for (let i = 0; i < count; i++) {
      const at = HEADER + i * ENTRY;
      if (i > 0) {
        const prev = at - ENTRY;
        let d = 0; // previous entry's oid vs this one's, byte by byte (they differ early)
        for (let k = 0; k < 32 && d === 0; k++) d = buf[prev + k] - buf[at + k];
        if (d > 0 || (d === 0 && buf[at + 48] <= buf[prev + 48])) {
          throw badPack(file, `pack index entries are not sorted by oid and kind (or one is listed twice) at entry ${i}`);
        }
      }
      const offset = u64(at + 32, `entry ${i} offset`);
      const length = u64(at + 40, `entry ${i} length`);
      const code = buf[at + 48];
      if (!kindOfCode(code)) throw badPack(file, `entry ${i} has unknown object kind ${code}`);
      for (let r = 49; r < ENTRY; r++) if (buf[at + r] !== 0) throw badPack(file, `entry ${i} has non-zero reserved bytes`);
      if (offset - ENTRY_HEADER_SIZE < areaStart || offset + length > areaEnd) {
        throw badPack(file, `entry ${i} (offset ${offset}, length ${length}) lies outside the pack's entries (bytes ${areaStart}–${areaEnd} of ${packSize})`);
      }
      offsets[i] = offset;
      lengths[i] = length;
    }
    // no two entries overlap, headers included: walk them in offset order (a native sort of
    // offset × count + i, exact while that stays below 2^53, else a sort with a comparator)
    let byOffset: ArrayLike<number>;
    if (count > 0 && packSize * count + count < Number.MAX_SAFE_INTEGER) {
      const keys = new Float64Array(count);
      for (let i = 0; i < count; i++) keys[i] = offsets[i] * count + i;
      keys.sort();
      const order = new Uint32Array(count);
      for (let j = 0; j < count; j++) order[j] = keys[j] % count;
      byOffset = order;
    } else {
      const order = new Uint32Array(count);
      for (let i = 0; i < count; i++) order[i] = i;
      order.sort((a, b) => offsets[a] - offsets[b]);
      byOffset = order;
    }
    let end = areaStart;
    for (let j = 0; j < count; j++) {
      const i = byOffset[j];
      if (offsets[i] - ENTRY_HEADER_SIZE < end) throw badPack(file, `entry ${i} (offset ${offsets[i]}) overlaps the entry before it in the pack`);
      end = offsets[i] + lengths[i];
    }
    return new PackIndex(file, buf, count, packId, packSize);
  }

  /** Entry `i` in (oid, kind) order, 0 ≤ i < count. */
  entryAt(i: number): PackIndexEntry {
    const at = HEADER + i * ENTRY;
    return {
      oid: oidFromHex(this.buf.toString('hex', at, at + 32)),
      offset: Number(this.buf.readBigUInt64BE(at + 32)),
      length: Number(this.buf.readBigUInt64BE(at + 40)),
      kind: kindOfCode(this.buf.readUInt8(at + 48)) as PackKind,
    };
  }

  /**
   * The entry for `oid` (of `kind`, or of any kind when not given), or undefined. O(log n) over the
   * raw bytes, no allocation per step.
   */
  find(oid: Oid, kind?: PackKind): PackIndexEntry | undefined {
    const key = Buffer.from(hexOf(oid), 'hex');
    if (key.length !== 32) return undefined;
    let lo = 0;
    let hi = this.count - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const at = HEADER + mid * ENTRY;
      const c = this.buf.compare(key, 0, 32, at, at + 32);
      if (c === 0) {
        // the same oid may be listed under up to four kinds, adjacent: step back to the first
        let i = mid;
        while (i > 0 && this.buf.compare(key, 0, 32, HEADER + (i - 1) * ENTRY, HEADER + (i - 1) * ENTRY + 32) === 0) i--;
        for (; i < this.count && this.buf.compare(key, 0, 32, HEADER + i * ENTRY, HEADER + i * ENTRY + 32) === 0; i++) {
          if (kind === undefined || this.buf[HEADER + i * ENTRY + 48] === kindCode(kind)) return this.entryAt(i);
        }
        return undefined;
      }
      if (c < 0) lo = mid + 1;
      else hi = mid - 1;
    }
    return undefined;
  }

  has(oid: Oid, kind?: PackKind): boolean {
    return this.find(oid, kind) !== undefined;
  }

  /** The first 6 bytes of entry `i`'s oid as a number: a compact key for an in-memory map over many packs. */
  prefixAt(i: number): number {
    return this.buf.readUIntBE(HEADER + i * ENTRY, 6);
  }

  /** Whether entry `i` is `oid` of `kind` (one compare, no allocation). */
  matches(i: number, oidBytes: Buffer, kind: PackKind): boolean {
    const at = HEADER + i * ENTRY;
    return this.buf[at + 48] === kindCode(kind) && this.buf.compare(oidBytes, 0, 32, at, at + 32) === 0;
  }

  /** Every entry, in oid order. */
  *entries(): IterableIterator<PackIndexEntry> {
    for (let i = 0; i < this.count; i++) yield this.entryAt(i);
  }

  /** The index's bytes (as parsed), e.g. to upload it beside its pack. */
  bytes(): Buffer {
    return this.buf;
  }

  /** Bytes of body held by the index's objects (for gc's garbage share). */
  get bodyBytes(): number {
    let n = 0;
    for (let i = 0; i < this.count; i++) n += Number(this.buf.readBigUInt64BE(HEADER + i * ENTRY + 40));
    return n;
  }
}

/** parsePackIndex(buf, file): PackIndex.parse under the name the other formats use. */
export function parsePackIndex(buf: Buffer, file: string): PackIndex {
  return PackIndex.parse(buf, file);
}
