/**
 * What the transfer engine (transfer.ts) is asked to move, and the run-record step plugged into it. Apart from
 * transfer.ts so that the runs module can fill them in without importing the engine (which loads it lazily).
 */
import type { Oid } from './oid.js';
import type { Remote } from '../remotes/index.js';

/** Something to transfer: a pointer's object, or a part of a tracked folder. */
export interface Root {
  oid: Oid;
  type: 'file' | 'dir';
  /** for messages: `data/images` or `data/images at 1a2b3c4d5e6f` */
  where: string;
  /** only this path inside the folder (relative to it, e.g. `images/cats`) */
  sub?: string;
  size?: number;
  files?: number;
}

/**
 * Extension point for run records (`runs/<id>.json` on the remote), filled in by the runs module.
 * Called after the objects, so that a record on a remote never names objects that are not there.
 */
export interface RecordSync {
  push?(remote: Remote, o: { signal?: AbortSignal }): Promise<{ transferred: number; skipped: number }>;
  fetch?(remote: Remote, o: { signal?: AbortSignal }): Promise<{ transferred: number; skipped: number }>;
}
