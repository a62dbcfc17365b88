/** A pointer file that a git merge left conflict markers in: detecting them, and parsing both sides for the message. */
import { parsePointer, type Pointer } from './pointer.js';

/** Conflict markers in a pointer file left by a merge. */
export function hasConflictMarkers(text: string): boolean {
  return /^<<<<<<< /m.test(text) && /^=======$/m.test(text) && /^>>>>>>> /m.test(text);
}

/** When a pointer file holds merge-conflict markers: both sides' versions, for the error message. */
export function conflictSides(text: string, file: string): { ours: Pointer | null; theirs: Pointer | null } | null {
  if (!hasConflictMarkers(text)) return null;
  const ours: string[] = [];
  const theirs: string[] = [];
  let state: 'both' | 'ours' | 'base' | 'theirs' = 'both';
  for (const line of text.split('\n')) {
    if (line.startsWith('<<<<<<< ')) state = 'ours';
    else if (line.startsWith('||||||| ')) state = 'base';
    else if (line === '=======') state = 'theirs';
    else if (line.startsWith('>>>>>>> ')) state = 'both';
    else if (state === 'both') {
      ours.push(line);
      theirs.push(line);
    } else if (state === 'ours') ours.push(line);
    else if (state === 'theirs') theirs.push(line);
  }
  const parse = (t: string[]) => {
    try {
      return parsePointer(t.join('\n'), file);
    } catch {
      return null;
    }
  };
  return { ours: parse(ours), theirs: parse(theirs) };
}
