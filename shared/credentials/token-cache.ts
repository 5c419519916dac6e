import { join } from 'node:path';
import { lockHolderGone, readLock, writeFileAtomically } from '#shared/runtime/files.ts';

// The node-local token cache: one file per source identity (0600, in a 0700 directory), written to a
// temporary file and renamed so a reader never sees half a token. A file that does not parse is ignored
// and replaced. A lock file next to it makes concurrent kubelet execs mint once: the first takes the
// lock, the others wait and then read what it wrote.
//
// A cache hit is the kubelet's common case and runs in a fresh process, so this module keeps its own
// start-up small: `node:fs` comes through process.getBuiltinModule (an ESM import of it also loads
// fs/promises), file names are hashed without loading node:crypto, and crypto and fs/promises are
// touched only on the write and lock paths.

const fs = process.getBuiltinModule('node:fs');

function randomHex(bytes: number): string {
  return process.getBuiltinModule('node:crypto').randomBytes(bytes).toString('hex');
}

/**
 * 106 bits of a string, as 28 hex digits: two 53-bit multiply-xorshift hashes with different seeds.
 * Not cryptographic and need not be: each file also holds its key, and a file for another key reads
 * as a miss.
 */
function fileNameHash(key: string): string {
  const half = (seed: number) => {
    let h1 = 0xdeadbeef ^ seed;
    let h2 = 0x41c6ce57 ^ seed;
    for (let i = 0; i < key.length; i++) {
      const code = key.charCodeAt(i);
      h1 = Math.imul(h1 ^ code, 2654435761);
      h2 = Math.imul(h2 ^ code, 1597334677);
    }
    h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
    h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
    return (4294967296 * (2097151 & h2) + (h1 >>> 0)).toString(16).padStart(14, '0');
  };
  return `${half(0)}${half(0x9e3779b9)}`;
}

export interface CachedToken {
  username: string;
  password: string;
  /** Absent for credentials without an expiry. */
  expiresAt?: string;
  mintedAt: string;
  source: string;
}

const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;

/** The token in a cache file, or undefined when the file is not one this cache wrote for `key`. */
function cachedToken(value: unknown, key: string): CachedToken | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const file = value as Record<string, unknown>;
  const text = (name: string) => typeof file[name] === 'string' && file[name] !== '';
  if (file.version !== 1 || file.key !== key || !text('username') || !text('password'))
    return undefined;
  if (!text('source') || !ISO_TIME.test(String(file.mintedAt))) return undefined;
  if (file.expiresAt !== undefined && !ISO_TIME.test(String(file.expiresAt))) return undefined;
  return {
    username: file.username as string,
    password: file.password as string,
    ...(file.expiresAt === undefined ? {} : { expiresAt: file.expiresAt as string }),
    mintedAt: file.mintedAt as string,
    source: file.source as string,
  };
}

export interface CacheRead {
  token?: CachedToken;
  /** The file existed but was truncated, corrupted or written by something else. */
  corrupt: boolean;
}

export class LockTimeoutError extends Error {
  override readonly name = 'LockTimeoutError';
}

export interface LockOptions {
  /** Give up waiting for another process after this long. */
  waitMs: number;
  /** A lock older than this belongs to a process that died; take it over. */
  staleMs: number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export class FileTokenCache {
  readonly directory: string;

  constructor(directory: string) {
    this.directory = directory;
  }

  private file(key: string): string {
    return join(this.directory, `${fileNameHash(key)}.json`);
  }

  async read(key: string): Promise<CacheRead> {
    let text: string;
    try {
      text = fs.readFileSync(this.file(key), 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { corrupt: false };
      throw error;
    }
    try {
      const token = cachedToken(JSON.parse(text), key);
      return token === undefined ? { corrupt: true } : { token, corrupt: false };
    } catch {
      return { corrupt: true };
    }
  }

  async write(key: string, token: CachedToken): Promise<void> {
    await fs.promises.mkdir(this.directory, { recursive: true, mode: 0o700 });
    await writeFileAtomically(this.file(key), JSON.stringify({ version: 1, key, ...token }));
  }

  /**
   * Runs `work` while holding the key's lock file; waits for another holder, and takes over a lock
   * whose process is gone or that is older than `staleMs`. The lock names its holder (pid and a nonce),
   * so a holder only ever removes its own lock.
   */
  async withLock<T>(key: string, options: LockOptions, work: () => Promise<T>): Promise<T> {
    const { mkdir, open, readFile, rename, rm } = fs.promises;
    await mkdir(this.directory, { recursive: true, mode: 0o700 });
    const lock = `${this.file(key)}.lock`;
    const owner = `${process.pid} ${randomHex(8)}\n`;
    const deadline = Date.now() + options.waitMs;
    for (let attempt = 0; ; attempt++) {
      try {
        const handle = await open(lock, 'wx', 0o600);
        await handle.writeFile(owner);
        await handle.close();
        break;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      }
      if (await this.abandoned(lock, options.staleMs)) {
        // Renaming first means only one waiter removes it; the others find it gone and retry.
        const moved = `${lock}.${randomHex(4)}.stale`;
        if (
          await rename(lock, moved).then(
            () => true,
            () => false,
          )
        )
          await rm(moved, { force: true });
        continue;
      }
      if (Date.now() > deadline) {
        throw new LockTimeoutError(`another process held ${lock} for over ${options.waitMs} ms`);
      }
      // Short, jittered waits: the holder usually finishes within one API call.
      await sleep(Math.min(200, 10 * 2 ** Math.min(attempt, 4)) * (0.5 + Math.random()));
    }
    try {
      return await work();
    } finally {
      const current = await readFile(lock, 'utf8').catch(() => undefined);
      if (current === owner) await rm(lock, { force: true });
    }
  }

  /** The holder's process has exited, or the lock is older than anyone may hold it. */
  private async abandoned(lock: string, staleMs: number): Promise<boolean> {
    const held = await readLock(lock);
    if (held === undefined) return false;
    return held.ageMs > staleMs || lockHolderGone(held.content, held.ageMs);
  }

  /** For tests and `doctor`: where a key's token lives. */
  pathOf(key: string): string {
    return this.file(key);
  }
}
