import { createHash } from 'node:crypto';
import { TroveError } from './errors.js';

/** An object id: `sha256:<64 lowercase hex>`. */
export type Oid = `sha256:${string}`;

const OID_RE = /^sha256:[0-9a-f]{64}$/;

export function isOid(v: unknown): v is Oid {
  return typeof v === 'string' && OID_RE.test(v);
}

export function oidFromHex(hex: string): Oid {
  return `sha256:${hex}` as Oid;
}

export function hexOf(oid: Oid): string {
  return oid.slice(7);
}

export function assertOid(v: unknown, where: string): Oid {
  if (!isOid(v)) throw new TroveError('BAD_POINTER', `${where}: not an object id: ${JSON.stringify(v)?.slice(0, 80)}`, 'an oid is "sha256:" followed by 64 lowercase hex digits');
  return v;
}

export function hashBytes(data: Buffer | string): Oid {
  return oidFromHex(createHash('sha256').update(data).digest('hex'));
}

/** Short form for humans: `sha256:5e88a1b2c3`. */
export function shortOid(oid: string): string {
  return oid.slice(0, 17);
}
