/**
 * The fan-out folders every file-per-object area of the store uses (`objects/sha256/ab/cdef…`, `trees/…`,
 * `chunks/…`, `manifests/…`): the first two hex digits of the name are a folder, the other 62 the file name.
 * This is the one listing of such an area; the loose store, the wave-1 migration (layout.ts) and the chunked
 * store read their areas through it.
 */
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { isErrno } from '../errors.js';

const FAN = /^[0-9a-f]{2}$/;

/**
 * Each fan-out folder below `root`: its two hex digits, its path and the names in it. Entries of `root`
 * that are not two hex digits are skipped. A missing `root` is empty; a fan-out folder removed meanwhile
 * (or a file where one should be) is skipped; other errors (EACCES) are thrown, so a listing never hides
 * objects silently. `sort`: fans and names in order (what a listing that users see needs).
 * @example for (const { fan, dir, names } of fanoutFolders(root)) for (const n of names) use(fan + n, path.join(dir, n));
 */
export function* fanoutFolders(root: string, o: { sort?: boolean } = {}): Generator<{ fan: string; dir: string; names: string[] }> {
  let fans: string[];
  try {
    fans = readdirSync(root);
  } catch (err) {
    if (isErrno(err, 'ENOENT', 'ENOTDIR')) return;
    throw err;
  }
  if (o.sort) fans.sort();
  for (const fan of fans) {
    if (!FAN.test(fan)) continue;
    const dir = path.join(root, fan);
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch (err) {
      if (isErrno(err, 'ENOENT', 'ENOTDIR')) continue;
      throw err;
    }
    if (o.sort) names.sort();
    yield { fan, dir, names };
  }
}
