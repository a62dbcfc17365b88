/**
 * The chunk manifest: how a large file's content (a blob, named by the SHA-256 of its whole bytes) is
 * made of chunks (each an object of kind 'chunk', named by the SHA-256 of its own bytes).
 *
 * Format, version 1: canonical JSON, UTF-8, no insignificant whitespace, keys in this order:
 * ```
 * {"version":1,"oid":"sha256:<file>","size":<file bytes>,
 *  "chunking":{"min":262144,"avg":1048576,"max":4194304},
 *  "chunks":[["sha256:<chunk>",<chunk bytes>],…]}
 * ```
 * `chunks` are in file order; their lengths add up to `size`. `chunking` says how the file was cut
 * (informative: a reader never needs it, a later writer may cut differently). A manifest is named by
 * the file's oid, not by its own hash, so its integrity rests on two checks: this reader refuses
 * anything malformed (`INTEGRITY`, naming the file), and whoever reassembles the chunks verifies the
 * whole-file SHA-256 against `oid`, so a wrong chunk list can never pass as the file.
 */
import { TroveError } from '../errors.js';
import { isOid, type Oid } from '../oid.js';
import type { ChunkerParams } from './chunker.js';

export const MANIFEST_VERSION = 1;

/** No chunk is longer (the chunker's maxSize is capped at this too): a bound for hostile input. */
export const MAX_CHUNK_BYTES = 256 << 20;
/** A manifest larger than this is refused before parsing (≈ 800k chunks: a 800 GiB file at 1 MiB). */
export const MAX_MANIFEST_BYTES = 64 << 20;

export interface ManifestEntry {
  oid: Oid;
  size: number;
}

export interface Manifest {
  version: 1;
  /** the whole file's oid: its identity everywhere (pointers, trees, run records) */
  oid: Oid;
  size: number;
  chunking: { min: number; avg: number; max: number };
  chunks: ManifestEntry[];
}

export function makeManifest(oid: Oid, chunks: ManifestEntry[], p: ChunkerParams): Manifest {
  let size = 0;
  for (const c of chunks) size += c.size;
  return { version: 1, oid, size, chunking: { min: p.minSize, avg: p.avgSize, max: p.maxSize }, chunks };
}

/** The canonical bytes of a manifest (same manifest, same bytes). */
export function serializeManifest(m: Manifest): Buffer {
  const ck = `{"min":${m.chunking.min},"avg":${m.chunking.avg},"max":${m.chunking.max}}`;
  const parts = m.chunks.map((c) => `["${c.oid}",${c.size}]`);
  return Buffer.from(`{"version":${MANIFEST_VERSION},"oid":"${m.oid}","size":${m.size},"chunking":${ck},"chunks":[${parts.join(',')}]}`);
}

function bad(what: string, why: string): TroveError {
  return new TroveError('INTEGRITY', `${what}: not a valid chunk manifest: ${why}`,
    'run `trove fsck` to find and quarantine broken objects, then `trove pull` to fetch good copies');
}

const isCount = (v: unknown, max: number): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 && v <= max;

/**
 * Parses and validates a manifest as hostile input. `what` names the file in errors; `expected`, when
 * given, is the oid the manifest must describe (the name it was stored or fetched under).
 */
export function parseManifest(buf: Buffer, what: string, expected?: Oid): Manifest {
  if (buf.length > MAX_MANIFEST_BYTES) throw bad(what, `${buf.length} bytes, more than the ${MAX_MANIFEST_BYTES} allowed`);
  let v: unknown;
  try {
    v = JSON.parse(buf.toString('utf8'));
  } catch {
    throw bad(what, 'not JSON');
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw bad(what, 'not a JSON object');
  const o = v as Record<string, unknown>;
  if (o.version !== MANIFEST_VERSION) {
    if (typeof o.version === 'number') {
      throw new TroveError('INTEGRITY', `${what}: chunk manifest version ${o.version} is not supported (this trove reads version ${MANIFEST_VERSION})`,
        'upgrade trove to read it');
    }
    throw bad(what, 'field "version" is missing or not a number');
  }
  if (!isOid(o.oid)) throw bad(what, 'field "oid" is not an object id');
  if (expected !== undefined && o.oid !== expected) throw bad(what, `it describes ${o.oid}, not ${expected}`);
  if (!isCount(o.size, Number.MAX_SAFE_INTEGER)) throw bad(what, 'field "size" is not a byte count');
  const ck = o.chunking as Record<string, unknown> | null;
  if (typeof ck !== 'object' || ck === null || !isCount(ck.min, MAX_CHUNK_BYTES) || !isCount(ck.avg, MAX_CHUNK_BYTES) || !isCount(ck.max, MAX_CHUNK_BYTES)) {
    throw bad(what, 'field "chunking" is not {min, avg, max} byte counts');
  }
  if (!Array.isArray(o.chunks)) throw bad(what, 'field "chunks" is not a list');
  const chunks: ManifestEntry[] = [];
  let sum = 0;
  for (let i = 0; i < o.chunks.length; i++) {
    const e: unknown = o.chunks[i];
    if (!Array.isArray(e) || e.length !== 2 || !isOid(e[0]) || !isCount(e[1], MAX_CHUNK_BYTES) || e[1] === 0) {
      throw bad(what, `chunks[${i}] is not ["sha256:…", length] with 1 ≤ length ≤ ${MAX_CHUNK_BYTES}`);
    }
    sum += e[1];
    if (sum > o.size) throw bad(what, `chunk lengths add up to more than field "size" (${o.size}) at chunks[${i}]`);
    chunks.push({ oid: e[0], size: e[1] });
  }
  if (sum !== o.size) throw bad(what, `chunk lengths add up to ${sum}, not field "size" (${o.size})`);
  return { version: 1, oid: o.oid, size: o.size, chunking: { min: ck.min as number, avg: ck.avg as number, max: ck.max as number }, chunks };
}
