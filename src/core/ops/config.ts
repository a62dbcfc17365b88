/** `trove config`: read the merged config, and set or unset keys in `.trove/config` or `.trove/config.local`. */
import path from 'node:path';
import { flattenConfig, getKey, readConfigFile, setKey, unsetKey, validateSetting, writeConfigFile } from '../config.js';
import { CONFIG_HEADER, LOCAL_HEADER, type RepoContext } from '../context.js';
import { TroveError } from '../errors.js';

export function configGet(ctx: RepoContext, key: string): unknown {
  return getKey(ctx.config, key);
}

export function configList(ctx: RepoContext): [string, unknown][] {
  return flattenConfig(ctx.config);
}

/**
 * Sets (or with value undefined, unsets) a key in `.trove/config` or, with `local`, `.trove/config.local`.
 * @example await configSet(ctx, 'cache.link', 'hardlink,copy', { local: true })
 */
export async function configSet(ctx: RepoContext, key: string, value: string | undefined, o: { local?: boolean } = {}): Promise<void> {
  const file = path.join(ctx.troveDir, o.local ? 'config.local' : 'config');
  const display = o.local ? '.trove/config.local' : '.trove/config';
  const tree = await readConfigFile(file, display);
  if (value === undefined) {
    if (!unsetKey(tree, key)) throw new TroveError('CONFIG', `${key}: not set in ${display}`);
  } else setKey(tree, key, validateSetting(key, value));
  await writeConfigFile(file, tree, o.local ? LOCAL_HEADER : CONFIG_HEADER);
}
