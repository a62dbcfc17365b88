/**
 * trove as a library: the same operations as the CLI, with typed results and errors. Every operation
 * is a function that takes the `Repo` first (the repo's methods `add`, `status`, `checkout`, `ls`,
 * `fsck`, `remove`, `move` are the same operations on the object).
 *
 * @example
 * import { Repo, push, fetch, diff, log } from 'trove';
 * const repo = await Repo.open();
 * await repo.add(['data']);
 * await push(repo, { remote: 'origin' });
 * const changes = await diff(repo, { from: 'v1' });
 * repo.close();
 */
export {
  Repo, type AddResult, type StatusEntry, type CheckoutResult, type CheckoutOptions, type FsckResult, type LsEntry, type Tracked,
} from './core/repo.js';
export { TroveError, isTroveError, type ErrorCode } from './core/errors.js';
export { parsePointer, serializePointer, type Pointer } from './core/pointer.js';
export { parseTree, serializeTree, type Tree, type TreeEntry } from './core/tree.js';
export { LooseStore, LooseStore as Cache } from './core/store/loose.js';
export { kindOf, type LinkMode, type ObjectInfo, type ObjectKind, type ObjectRef, type ObjectStore, type Part, type PartKind, type PutResult } from './core/store/objectStore.js';
export { MemoryStore } from './core/store/memory.js';
export type { Oid } from './core/oid.js';
export type { OnProgress, Progress } from './core/workspace.js';

// versions beside git
export { diff, log, checkoutRev, checkoutSide, type PathDiff, type LogRow } from './core/versions.js';
export type { FilesDiff, FileChange } from './core/diff.js';
export { installHooks, uninstallHooks } from './core/hooks.js';

// remotes and transfer
export { push, fetch, pull, remoteStatus, type TransferResult, type PullResult, type RemoteStatusEntry, type SyncOptions } from './core/transfer.js';
export { addRemote, removeRemote, setDefaultRemote, modifyRemote, describeRemotes, type RemoteSpec } from './core/remoteConfig.js';
export { planGc, applyGc, type GcPlan, type GcOptions } from './core/gc.js';

// runs and lineage
export { ActiveRun, type StartRunOptions, type EndRunOptions, type EndRunResult } from './core/runs/recorder.js';
export { RunStore } from './core/runs/store.js';
export { listRuns, showRun, compareRuns, lineageOf, checkoutRun, resolveTarget, pointerAtRev } from './core/runs/queries.js';
export type { RunRecord, RunInput, RunOutput, RunStatus } from './core/runs/record.js';
// reproduce, verify, stale runs, imports, the run cache and lineage exports (docs/reproduce.md)
export { reproduceRun, type Executor, type ReproduceResult, type OutputComparison } from './core/reproduce.js';
export { verifyRun, type RunVerification } from './core/runs/verify.js';
export { staleRuns, type StaleInput } from './core/runs/stale.js';
export { importData, updateImport, type ImportResult, type UpdateResult } from './core/importRepo.js';
export { validatePointerSource, type PointerSource } from './core/pointerSource.js';
export { findReusableRun, reuseRun } from './core/runs/runCache.js';
export { runToOpenLineage, postLineage, lineageContext, type OLRunEvent } from './core/runs/export-openlineage.js';
export { runsToProv, type ProvDocument } from './core/runs/export-prov.js';
