/** Moved to `git/` (the one git adapter); this re-export keeps wave-1 import paths working while branches merge. */
export { Git } from './git/git.js';
export { gitEnv } from './git/env.js';
