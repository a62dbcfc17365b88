/** The scrubbed environment every git child process of trove's gets (git.ts, spawn.ts, catFile.ts). */
/**
 * The environment for git children: the user's (HOME, PATH, proxy and SSL settings) with LC_ALL=C
 * for stable output. simple-git refuses some variables when passed explicitly (EDITOR, PAGER,
 * SSH_ASKPASS, PREFIX, most GIT_*): none matter for the plumbing trove runs, so they are left out,
 * and so is any repository location inherited from a hook (GIT_DIR, GIT_INDEX_FILE…), which would
 * point git at the wrong repo when trove runs inside another repo's hook.
 */
const GIT_KEEP = ['GIT_SSL_CAINFO', 'GIT_SSL_CAPATH', 'GIT_AUTHOR_NAME', 'GIT_AUTHOR_EMAIL', 'GIT_AUTHOR_DATE', 'GIT_COMMITTER_NAME', 'GIT_COMMITTER_EMAIL', 'GIT_COMMITTER_DATE', 'GIT_CEILING_DIRECTORIES'];
const UNSAFE = new Set(['EDITOR', 'VISUAL', 'PAGER', 'SSH_ASKPASS', 'PREFIX']);
export function gitEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v === undefined || UNSAFE.has(k)) continue;
    if (k.startsWith('GIT_') && !GIT_KEEP.includes(k)) continue;
    env[k] = v;
  }
  env.LC_ALL = 'C';
  env.GIT_TERMINAL_PROMPT = '0';
  return env;
}
