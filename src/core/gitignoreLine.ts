import path from 'node:path';
import { TroveError } from './errors.js';

/**
 * The `.gitignore` line that makes git ignore exactly one path beside that `.gitignore`:
 * `/` + the name, with gitignore's special characters escaped. A leading `/` anchors the pattern,
 * so `#` and `!` (special only at the start of a line) need no escape there; `*`, `?`, `[` and `\`
 * are escaped anywhere, and trailing spaces (which git strips) each get a backslash. Leading
 * spaces are literal in gitignore. A newline (or CR) cannot be written in a gitignore line at all:
 * such a name is refused (BAD_INPUT names it), before anything is written.
 */
export function gitignoreLineFor(rel: string): string {
  const name = path.posix.basename(rel);
  if (/[\n\r]/.test(name)) {
    throw new TroveError('BAD_INPUT', `${JSON.stringify(rel)}: a name with a line break cannot be written to .gitignore, so git could not be kept from committing the data`,
      'rename it without the line break, then track it');
  }
  let esc = name.replace(/[\\*?[]/g, (c) => '\\' + c);
  const trail = /( +)$/.exec(esc);
  if (trail) esc = esc.slice(0, -trail[1]!.length) + '\\ '.repeat(trail[1]!.length);
  return '/' + esc;
}
