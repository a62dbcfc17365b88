/**
 * The `source` field of an imported pointer (`trove import`): which trove repository, at which exact
 * git commit, and which tracked path there this data came from.
 *
 * ```yaml
 * version: 1
 * path: iris.csv
 * type: file
 * oid: sha256:…
 * size: 4550
 * source:
 *   repo: https://example.com/data-registry.git   # what `git clone` was given
 *   rev: 3f1c…                                     # full commit id (40 or 64 hex)
 *   path: data/iris.csv                            # the tracked path in that repository
 * ```
 *
 * A pointer arrives through git from anyone, so the field is hostile input: `repo` is later handed to
 * `git clone` (a value starting with `-` would be read as an option, and `ext::` urls run commands),
 * `path` names a file in the other repository. `validatePointerSource` refuses anything else, and
 * `parsePointer` calls it, so a pointer with a bad `source` is a BAD_POINTER like any other.
 */
import { TroveError } from './errors.js';
import { validateRelPath } from './paths.js';

export interface PointerSource {
  repo: string;
  rev: string;
  path: string;
}

const REV_RE = /^([0-9a-f]{40}|[0-9a-f]{64})$/;
// eslint-disable-next-line no-control-regex
const CONTROL_RE = /[\u0000-\u001f\u007f]/;
const MAX_REPO = 4096;

/** Why `repo` may not be handed to `git clone`, or null when it may. */
export function sourceRepoProblem(repo: string): string | null {
  if (repo.length === 0) return 'is empty';
  if (repo.length > MAX_REPO) return `is longer than ${MAX_REPO} characters`;
  if (CONTROL_RE.test(repo)) return 'contains a control character';
  if (repo.startsWith('-')) return "starts with '-' (git would read it as an option)";
  // git's remote helpers `ext::cmd` and `fd::` run commands or use file descriptors.
  if (/^[a-z][a-z0-9+.-]*::/i.test(repo)) return 'uses a git remote helper (`<helper>::`), which trove does not allow';
  return null;
}

/**
 * Validates a pointer's `source` value; returns it typed. `file` names the pointer in errors.
 * @example validatePointerSource({ repo: '../registry', rev: 'ab…', path: 'data/iris.csv' }, 'iris.csv.trove')
 */
export function validatePointerSource(v: unknown, file: string): PointerSource {
  const bad = (why: string, field = 'source') => new TroveError('BAD_POINTER', `${file}: field '${field}' ${why}`,
    `fix or restore ${file} (e.g. \`git checkout -- ${file}\`), or import the data again with \`trove import\``, { data: { file, field } });
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw bad('must be a mapping with repo, rev and path');
  const o = v as Record<string, unknown>;
  for (const k of Object.keys(o)) if (!['repo', 'rev', 'path'].includes(k)) throw bad(`has an unknown key ${JSON.stringify(k).slice(0, 40)}`, `source.${k.slice(0, 40)}`);
  if (typeof o.repo !== 'string') throw bad('must be a string', 'source.repo');
  const problem = sourceRepoProblem(o.repo);
  if (problem) throw bad(problem, 'source.repo');
  if (typeof o.rev !== 'string' || !REV_RE.test(o.rev)) throw bad('must be a full git commit id (40 or 64 lowercase hex digits)', 'source.rev');
  let p: string;
  try {
    p = validateRelPath(o.path, `${file}: field 'source.path'`);
  } catch (err) {
    throw bad(`is not a safe relative path (${(err as Error).message})`, 'source.path');
  }
  if (p.split('/').includes('.git') || p.split('/')[0] === '.trove') throw bad('names a place that holds no tracked data', 'source.path');
  return { repo: o.repo, rev: o.rev, path: p };
}

/** The source of an imported pointer (already validated when the pointer was parsed), or null. */
export function sourceOf(ptr: { path: string; extra?: Record<string, unknown> }): PointerSource | null {
  const v = ptr.extra?.source;
  return v === undefined ? null : validatePointerSource(v, ptr.path);
}
