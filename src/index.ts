/**
 * trove as a library: the same operations as the CLI, with typed results and errors. Every operation
 * is a function that takes the repository context first, `op(ctx, args, opts)`; a `Repo` is a context,
 * and its methods `add`, `status`, `checkout`, `ls`, `fsck`, `remove`, `move` call the same functions.
 *
 * @example
 * import { Repo, add, push, fetch, diff, log } from 'trove';
 * const repo = await Repo.open();
 * await add(repo, ['data']);            // or repo.add(['data'])
 * await push(repo, { remote: 'origin' });
 * const changes = await diff(repo, { from: 'v1' });
 * repo.close();
 */
export {
  Repo, type AddResult, type StatusEntry, type CheckoutResult, type CheckoutOptions, type FsckResult, type LsEntry, type Tracked,
} from './core/repo.js';
// the operations as free functions `op(ctx, args, opts)`; a Repo is a RepoContext, so `add(repo, ['data'])` works
export { RepoContext, type RepoSettings } from './core/context.js';
export { add } from './core/ops/add.js';
export { status } from './core/ops/status.js';
export { checkout, checkoutTracked, checkoutVersions } from './core/ops/checkout.js';
export { planCheckout, checkoutActions, workspaceStateOf, type CheckoutPlan, type DesiredState, type WorkspaceState } from './core/ops/checkoutPlan.js';
export { applyCheckout } from './core/ops/checkoutApply.js';
export { fsck } from './core/ops/fsck.js';
export { ls } from './core/ops/ls.js';
export { remove } from './core/ops/remove.js';
export { move } from './core/ops/move.js';
export { configGet, configList, configSet } from './core/ops/config.js';
export { listTracked, readTracked, resolveTargets, scanTracked } from './core/ops/tracked.js';
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
