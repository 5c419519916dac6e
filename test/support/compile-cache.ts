import { readdir } from 'node:fs/promises';
import { join } from 'node:path';

/** The compile-cache folder pullwarden uses under a cache home (XDG_CACHE_HOME). */
export function compileCacheFolder(cacheHome: string): string {
  return join(cacheHome, 'pullwarden/node-compile-cache');
}

/** How many compiled modules a compile-cache folder holds. */
export async function cachedModules(folder: string): Promise<number> {
  const entries = await readdir(folder, { recursive: true, withFileTypes: true });
  return entries.filter((entry) => entry.isFile()).length;
}
