/**
 * MLflow datasets as trove data versions: a `log_input` whose source is a tracked path, or a file
 * inside a tracked folder, also records that tracked path's full SHA-256 version as a run input
 * (role `dataset`, `modified` when the workspace differs from the pointer), so `runs list --uses`
 * and `lineage` answer for it. Relative sources are taken from the repo root (where `trove run` and
 * `trove server` work); `file://` URIs and absolute paths must be inside the repo.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { TroveError } from '../core/errors.js';
import type { Repo } from '../core/repo.js';
import type { RunEvent } from '../core/runs/record.js';
import { inputVersion } from '../core/runs/recorder.js';

/** The source's local path, or null when it is not a local file source. */
export function datasetSourcePath(source: string, sourceType: string): string | null {
  let uri: unknown = source;
  try {
    const v = JSON.parse(source) as { uri?: unknown; path?: unknown };
    uri = v && typeof v === 'object' ? (v.uri ?? v.path) : source;
  } catch {
    /* a plain string source */
  }
  if (typeof uri !== 'string' || uri === '' || uri.includes('\0')) return null;
  if (uri.startsWith('file://')) {
    try {
      return fileURLToPath(uri);
    } catch {
      return null;
    }
  }
  if (/^[a-z][a-z0-9+.-]*:/i.test(uri)) return null; // s3://, http://, …: not a local path
  if (sourceType !== 'local' && sourceType !== '' && sourceType !== 'code') return null;
  return uri;
}

/** The input event for a dataset source that is (inside) a tracked path, or null. */
export async function resolveDatasetInput(repo: Repo, source: string, sourceType: string): Promise<RunEvent | null> {
  const p = datasetSourcePath(source, sourceType);
  if (p === null) return null;
  const abs = path.resolve(repo.root, p);
  const rel = path.relative(repo.root, abs);
  if (rel === '' || rel.startsWith('..') || path.isAbsolute(rel)) return null;
  let tracked;
  try {
    tracked = (await repo.resolveTargets([abs]))[0]?.tracked;
  } catch (err) {
    if (err instanceof TroveError) return null; // not tracked: MLflow's fields are still kept
    throw err;
  }
  if (!tracked) return null;
  const input = await inputVersion(repo, tracked, 'dataset');
  if (!input) return null;
  const { path: ip, ...rest } = input;
  return { input: ip, ...rest };
}
