import { createHash } from 'node:crypto';
import { Transform } from 'node:stream';
import { TroveError } from '../core/errors.js';

/**
 * A pass-through that hashes what it reads and, when the end arrives, releases the last chunk only if
 * the SHA-256 matches `expectedHex`. Holding the last chunk back is what makes the check safe for an
 * upload: a body that fails never reaches its declared length, so the remote never sees a complete
 * object (the S3 request fails, a folder remote's temp file is never renamed).
 */
export function sha256Gate(expectedHex: string, what: string): Transform & { failure: TroveError | null } {
  const hash = createHash('sha256');
  let held: Buffer | null = null;
  const t = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      hash.update(chunk);
      const prev = held;
      held = chunk;
      cb(null, prev ?? undefined);
    },
    flush(cb) {
      const got = hash.digest('hex');
      if (got !== expectedHex) {
        gate.failure = integrityError(what, expectedHex, got);
        cb(gate.failure);
        return;
      }
      cb(null, held ?? undefined);
    },
  });
  const gate = Object.assign(t, { failure: null as TroveError | null });
  return gate;
}

/** The same check for bytes already in memory. */
export function checkSha256(buf: Buffer, expectedHex: string, what: string): void {
  const got = createHash('sha256').update(buf).digest('hex');
  if (got !== expectedHex) throw integrityError(what, expectedHex, got);
}

export function integrityError(what: string, expected: string, got: string): TroveError {
  return new TroveError('INTEGRITY', `${what}: local content does not match its name (expected sha256:${expected}, read sha256:${got})`,
    'the local copy is corrupt and was not uploaded; `trove fsck` quarantines it, then re-add the data or fetch it from another remote',
    { data: { corrupt: true } });
}
