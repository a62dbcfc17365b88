/**
 * The remote inventory: what a remote holds, in one file, so that push, `status --remote` and a
 * no-op push know what is missing in a couple of requests whatever the number of objects.
 *
 * Key `inventory.json` on the remote, version 1, UTF-8 JSON:
 * ```json
 * { "format": "trove-inventory", "version": 1, "written": "2026-12-01T19:30:00.000Z",
 *   "packs": [{ "id": "<64 hex>", "idx": "<base64 of the pack's .idx file>" }, …],
 *   "loose": ["<64 hex>", …], "manifests": ["<64 hex>", …] }
 * ```
 * - `packs`: the indexes of the packs it was built from, embedded byte for byte (packIndex.ts format,
 *   with its own version and checksum), so one GET gives every packed object's kind, offset and
 *   length without one request per pack;
 * - `loose`: objects stored loose (`objects/sha256/…`) when it was written;
 * - `manifests` (optional, added in December without a version bump: readers that predate it ignore
 *   unknown fields, so old and new troves keep sharing a remote): the files held as a chunk manifest
 *   (`manifests/sha256/…`), as 64-hex oids of the files. Absent means "not recorded" (an inventory
 *   written by an older trove, or by gc): readers then ask with a HEAD, as before; present, a large
 *   object it does not name is missing without a request, and a claim is re-checked with one HEAD of
 *   the manifest before anything is skipped.
 *
 * It is advisory, never the truth. Readers re-check it before anything is skipped (remoteStore.ts):
 * a pack counts only while `packs/<id>.idx` is in the listing of `packs/` (one request per 1,000
 * keys) and not doomed by gc; a loose claim is checked with HEAD or a prefix listing; an object the
 * inventory does not name is treated as missing (uploading it again is safe). So a stale, lost or
 * hand-edited inventory costs requests or re-uploads, never a skipped object the remote lacks.
 * Written whole with one atomic put (readers see the old or the new file); two pushes writing at
 * once lose one's additions, which the next reader repairs from the packs listing.
 */
import { TroveError } from './errors.js';
import { isOid, oidFromHex, hexOf, type Oid } from './oid.js';
import { PackIndex, parsePackIndex } from './store/packIndex.js';

export const INVENTORY_KEY = 'inventory.json';
export const INVENTORY_VERSION = 1;
const FORMAT = 'trove-inventory';

export interface Inventory {
  packs: PackIndex[];
  loose: Set<Oid>;
  /** files held as manifests; undefined when the inventory does not record them */
  manifests?: Set<Oid>;
}

/** Serializes an inventory (packs sorted by id, loose oids sorted) for one atomic put. */
export function encodeInventory(inv: Inventory, now = new Date()): Buffer {
  const packs = [...inv.packs].sort((a, b) => (a.packId < b.packId ? -1 : 1)).map((p) => ({ id: p.packId, idx: p.bytes().toString('base64') }));
  const loose = [...inv.loose].map(hexOf).sort();
  const manifests = inv.manifests && [...inv.manifests].map(hexOf).sort();
  return Buffer.from(JSON.stringify({ format: FORMAT, version: INVENTORY_VERSION, written: now.toISOString(), packs, loose, ...(manifests && { manifests }) }));
}

/**
 * Parses an inventory as hostile input: any malformed part is an error naming `where` and the field;
 * an unknown version is refused (a newer trove wrote it) rather than half understood.
 */
export function parseInventory(buf: Buffer, where: string): Inventory {
  const bad = (what: string) => new TroveError('REMOTE', `${where}: ${what}`,
    'the inventory is only a summary: delete it on the remote and the next push rebuilds it from the packs');
  let doc: unknown;
  try {
    doc = JSON.parse(buf.toString('utf8'));
  } catch {
    throw bad('not JSON');
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw bad('not a JSON object');
  const d = doc as Record<string, unknown>;
  if (d.format !== FORMAT) throw bad(`field "format" is ${JSON.stringify(d.format)}, expected "${FORMAT}"`);
  if (d.version !== INVENTORY_VERSION) {
    throw new TroveError('REMOTE', `${where}: inventory version ${JSON.stringify(d.version)} is not supported (this trove reads version ${INVENTORY_VERSION})`,
      'upgrade trove: a newer version wrote this remote', { data: { unknownVersion: true } });
  }
  if (!Array.isArray(d.packs)) throw bad('field "packs" is not a list');
  if (!Array.isArray(d.loose)) throw bad('field "loose" is not a list');
  const packs: PackIndex[] = [];
  const seen = new Set<string>();
  d.packs.forEach((p: unknown, i: number) => {
    const e = p as { id?: unknown; idx?: unknown } | null;
    if (typeof e !== 'object' || e === null || typeof e.id !== 'string' || !/^[0-9a-f]{64}$/.test(e.id)) throw bad(`packs[${i}].id is not a pack id`);
    if (typeof e.idx !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(e.idx)) throw bad(`packs[${i}].idx is not base64`);
    if (seen.has(e.id)) throw bad(`packs[${i}]: pack ${e.id} is listed twice`);
    seen.add(e.id);
    const idx = parsePackIndex(Buffer.from(e.idx, 'base64'), `${where} packs[${i}]`);
    if (idx.packId !== e.id) throw bad(`packs[${i}]: the index is for pack ${idx.packId}, not ${e.id}`);
    packs.push(idx);
  });
  const oids = (field: string, list: unknown[]) => {
    const out = new Set<Oid>();
    list.forEach((h: unknown, i: number) => {
      if (typeof h !== 'string' || !/^[0-9a-f]{64}$/.test(h)) throw bad(`${field}[${i}] is not a 64-hex object name`);
      const oid = oidFromHex(h);
      if (!isOid(oid)) throw bad(`${field}[${i}] is not an object name`);
      out.add(oid);
    });
    return out;
  };
  const loose = oids('loose', d.loose);
  if (d.manifests === undefined) return { packs, loose };
  if (!Array.isArray(d.manifests)) throw bad('field "manifests" is not a list');
  return { packs, loose, manifests: oids('manifests', d.manifests) };
}
