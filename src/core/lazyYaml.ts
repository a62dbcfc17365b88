import { createRequire } from 'node:module';

/**
 * The yaml package, loaded on first use. Loading it costs ~90 ms of CPU here (measured with
 * --cpu-prof on `trove status`), more than the rest of a no-change status; pointers and an empty
 * config are read without it (see pointer.ts), so most commands never pay for it.
 */
type Yaml = typeof import('yaml');
let mod: Yaml | undefined;
export function yaml(): Yaml {
  return (mod ??= createRequire(import.meta.url)('yaml') as Yaml);
}
