/**
 * Whether a process id names a live process on this machine: the one check behind stale locks (lock.ts),
 * runs left RUNNING by a killed process (runs/store.ts) and dead writers' temp files.
 */
import { isErrno } from './errors.js';

/**
 * True unless the kernel says there is no such process (ESRCH). EPERM (it exists but is not ours) and any
 * other error count as alive: the callers then leave a lock, a run or a file alone, which is the safe side.
 * A pid that cannot be a process (0 signals the caller's own group, negatives a group) is not alive.
 */
export function pidIsAlive(pid: number): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return !isErrno(err, 'ESRCH');
  }
}
