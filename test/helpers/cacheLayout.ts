/**
 * Where the loose store keeps an object on disk (layout version 2, src/core/store/layout.ts), for tests
 * that corrupt, remove or inspect objects behind trove's back. The code itself never builds these
 * paths outside src/core/store/; a test may, because it checks the on-disk state.
 */
import path from 'node:path';

export function objectFile(cacheDir: string, oid: string, kind: 'blob' | 'tree' = 'blob'): string {
  const hex = oid.replace(/^sha256:/, '');
  return path.join(cacheDir, kind === 'tree' ? 'trees' : 'objects', 'sha256', hex.slice(0, 2), hex.slice(2));
}

/** The object file in a repo's default cache (`.trove/cache`). */
export function repoObjectFile(repoDir: string, oid: string, kind: 'blob' | 'tree' = 'blob'): string {
  return objectFile(path.join(repoDir, '.trove/cache'), oid, kind);
}
