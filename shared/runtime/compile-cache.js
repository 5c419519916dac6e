import { lstatSync, mkdirSync } from 'node:fs';
import * as nodeModule from 'node:module';
import { homedir } from 'node:os';
import { isAbsolute, join } from 'node:path';

// Node's compile cache keeps the modules a command loads (type-stripped and compiled) between runs, which
// roughly halves the time before a CLI command starts its work. Its default home, the system's temporary
// directory, is shared by every user: whoever creates the folder there first can plant code that another
// user's run would load. The cache therefore lives in the user's own cache directory, and is used only
// when that folder belongs to this user and no one else may write to it.
//
// This module is JavaScript (typed in JSDoc, checked by tsc) because it runs before the cache is on: a
// TypeScript module loaded then would start Node's type stripper, which a run whose modules all come
// from the cache otherwise never loads.

/**
 * `$XDG_CACHE_HOME/pullwarden/node-compile-cache`, else the same under `~/.cache`.
 * @param {NodeJS.ProcessEnv} env
 * @param {string} home
 * @returns {string}
 */
export function compileCacheDirectory(env, home) {
  const xdg = env.XDG_CACHE_HOME;
  const base = xdg !== undefined && isAbsolute(xdg) ? xdg : join(home, '.cache');
  return join(base, 'pullwarden', 'node-compile-cache');
}

/**
 * Whether a folder is one only its owner, this user, can change.
 * @param {string} directory
 * @param {number} uid
 * @returns {boolean}
 */
function ownedPrivately(directory, uid) {
  const stats = lstatSync(directory);
  return stats.isDirectory() && stats.uid === uid && (stats.mode & 0o022) === 0;
}

/**
 * Turns the compile cache on for this process and for the worker threads and child processes it
 * starts later (through NODE_COMPILE_CACHE, which a worker reads when it starts), unless the cache is
 * turned off (NODE_DISABLE_COMPILE_CACHE=1), already on (NODE_COMPILE_CACHE), or its folder cannot be
 * made private to this user. Returns the folder in use, if any.
 * @param {NodeJS.ProcessEnv} [env]
 * @returns {string | undefined}
 */
export function enableUserCompileCache(env = process.env) {
  if (env.NODE_DISABLE_COMPILE_CACHE !== undefined || env.NODE_COMPILE_CACHE !== undefined)
    return undefined;
  const uid = process.getuid?.();
  // Node older than 22.1 has no compile cache: the bundled CLI then starts without it.
  if (uid === undefined || typeof nodeModule.enableCompileCache !== 'function') return undefined;
  const directory = compileCacheDirectory(env, homedir());
  try {
    mkdirSync(directory, { recursive: true, mode: 0o700 });
    if (!ownedPrivately(directory, uid)) return undefined;
  } catch {
    // No cache is slower, never wrong.
    return undefined;
  }
  const result = nodeModule.enableCompileCache(directory);
  if (result.status !== nodeModule.constants.compileCacheStatus.ENABLED) return undefined;
  env.NODE_COMPILE_CACHE = directory;
  return directory;
}
