/**
 * Typed errors. Core code throws these; only the CLI turns them into text and exit codes.
 * Tests assert `code`, never the wording.
 */
export type ErrorCode =
  | 'NOT_A_REPO'
  | 'NOT_A_GIT_REPO'
  | 'BAD_POINTER'
  | 'BAD_TREE'
  | 'BAD_RUN'
  | 'BAD_ARGS'
  | 'IO'
  | 'BAD_INPUT'
  | 'MISSING_OBJECT'
  | 'INTEGRITY'
  | 'WOULD_OVERWRITE'
  | 'PATH_OUTSIDE_REPO'
  | 'PATH_NOT_TRACKED'
  | 'PATH_TRACKED_BY_GIT'
  | 'PATH_ALREADY_TRACKED'
  | 'SYMLINK'
  | 'NOT_FOUND'
  | 'REMOTE'
  | 'CONFIG'
  | 'BAD_QUERY'
  | 'GIT'
  | 'LOCKED'
  | 'NOT_IN_RUN'
  | 'PARAM_CONFLICT'
  | 'ABORTED'
  | 'CANNOT_START'
  | 'SERVER';

/**
 * The one usage error code: exit 2 means "the command line was wrong", nothing else. File-system and
 * data problems (EACCES, a file that grew while read, a params file that is not YAML) are `IO` or
 * `BAD_INPUT` and exit 1 like every other TroveError.
 */
export const USAGE_CODES: ReadonlySet<ErrorCode> = new Set(['BAD_ARGS']);

export class TroveError extends Error {
  override readonly name = 'TroveError';
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly hint?: string,
    options?: { cause?: unknown; data?: Record<string, unknown>; retryable?: boolean },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.data = options?.data;
    this.retryable = options?.retryable === true;
  }
  readonly data?: Record<string, unknown>;
  /**
   * Set by the layer that knows (a remote backend: a 503, a reset, a timeout): another attempt of the
   * same request may succeed. The one retry policy (src/remotes/retry.ts) retries exactly these.
   */
  readonly retryable: boolean;
}

export function isTroveError(err: unknown, code?: ErrorCode): err is TroveError {
  return err instanceof TroveError && (code === undefined || err.code === code);
}

/** `isErrno(err, 'ENOENT')`: one place that knows what a Node system error looks like. */
export function isErrno(err: unknown, ...codes: string[]): err is NodeJS.ErrnoException {
  return (
    typeof err === 'object' &&
    err !== null &&
    'code' in err &&
    typeof (err as { code: unknown }).code === 'string' &&
    (codes.length === 0 || codes.includes((err as { code: string }).code))
  );
}
