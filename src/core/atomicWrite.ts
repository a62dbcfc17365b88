import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import path from 'node:path';

/**
 * Writes a small file that must never be seen half-written (pointer, config, run record):
 * temp file beside it, fsync, rename. The temp file is removed if anything fails.
 */
export async function writeFileAtomic(file: string, data: string | Buffer, mode = 0o644): Promise<void> {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  let fh: fsp.FileHandle | undefined;
  try {
    fh = await fsp.open(tmp, 'wx', mode);
    await fh.writeFile(data);
    await fh.sync();
    await fh.close();
    fh = undefined;
    await fsp.rename(tmp, file);
  } catch (err) {
    await fh?.close().catch(() => {});
    await fsp.rm(tmp, { force: true });
    throw err;
  }
}
