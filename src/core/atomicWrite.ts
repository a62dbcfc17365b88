import { promises as fsp } from 'node:fs';
import { tempBeside } from './tempName.js';

/**
 * Writes a small file that must never be seen half-written (pointer, config, run record):
 * temp file beside it, fsync, rename. The temp file is removed if anything fails.
 */
export async function writeFileAtomic(file: string, data: string | Buffer, mode = 0o644): Promise<void> {
  const tmp = tempBeside(file);
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
