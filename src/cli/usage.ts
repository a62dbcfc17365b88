/**
 * A usage error: bad arguments or options, exit 2. Its own module so that commands can throw it without
 * importing main.ts (which imports every command: a circle).
 */
export class UsageError extends Error {}
