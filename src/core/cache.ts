/** Wave 1's module name for the local store, kept during the session for branches that still import it. */
export { LooseStore as Cache, SYNC_FILE } from './store/loose.js';
export type { LinkMode } from './store/objectStore.js';
