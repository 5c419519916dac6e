// Files that a reader must never see half written: a node's agent state and token cache.

/**
 * Writes `body` to `target` through a temporary file beside it, synced to disk before it is renamed
 * over `target`, so that a crash leaves the old content or the new one, never a mix; the directory is
 * synced after the rename, so that the new content is still there after a crash once this returns. The
 * file gets `mode`; the temporary file is removed when anything before the rename fails.
 */
export async function writeFileAtomically(
  target: string,
  body: string,
  mode = 0o600,
): Promise<void> {
  // Loaded on use: the credential provider's cache hit never writes, and starts faster without them.
  const { open, rename, rm } = process.getBuiltinModule('node:fs').promises;
  const suffix = process.getBuiltinModule('node:crypto').randomBytes(4).toString('hex');
  const temporary = `${target}.${process.pid}.${suffix}.tmp`;
  try {
    const handle = await open(temporary, 'wx', mode);
    try {
      await handle.writeFile(body);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temporary, target);
  } catch (error) {
    await rm(temporary, { force: true });
    throw error;
  }
  await syncDirectory(process.getBuiltinModule('node:path').dirname(target));
}

/**
 * What platforms and filesystems answer when a directory cannot be opened for reading or synced: Windows
 * (EISDIR, EPERM), a directory the process may write but not read (EACCES), filesystems that refuse to
 * sync a descriptor opened read-only or a directory at all (EBADF, EINVAL, ENOTSUP). The rename has
 * happened by then; such a directory is left as it is, and only a failing disk (EIO, say) is reported.
 */
const DIRECTORY_SYNC_UNSUPPORTED = new Set([
  'EISDIR',
  'EPERM',
  'EACCES',
  'EBADF',
  'EINVAL',
  'ENOTSUP',
]);

/** Syncs a directory, so that a rename inside it outlasts a crash. */
async function syncDirectory(directory: string): Promise<void> {
  const { open } = process.getBuiltinModule('node:fs').promises;
  let handle: Awaited<ReturnType<typeof open>> | undefined;
  try {
    handle = await open(directory, 'r');
    await handle.sync();
  } catch (error) {
    if (!DIRECTORY_SYNC_UNSUPPORTED.has((error as NodeJS.ErrnoException).code ?? '')) throw error;
  } finally {
    await handle?.close();
  }
}

/**
 * Whether a process with this id exists, for lock files that name their holder. A process of another
 * user counts as alive; "no such process", or a number no process can have, says the holder is gone.
 */
export function isProcessAlive(pid: number): boolean {
  // 0 and negative numbers would signal process groups; larger ones are refused by the kernel call.
  if (!Number.isInteger(pid) || pid <= 0 || pid > 0x7fffffff) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

/** A lock file's content (undefined if unreadable) and age, or undefined when there is no such file. */
export async function readLock(
  path: string,
): Promise<{ content: string | undefined; ageMs: number } | undefined> {
  const { readFile, stat } = process.getBuiltinModule('node:fs').promises;
  const [held, content] = await Promise.all([
    stat(path).catch(() => undefined),
    readFile(path, 'utf8').catch(() => undefined),
  ]);
  return held === undefined ? undefined : { content, ageMs: Date.now() - held.mtimeMs };
}

/** How long a lock file may name no holder before its writer counts as gone. */
const UNNAMED_LOCK_GRACE_MS = 10_000;

/**
 * Whether the holder of a lock file is gone, from the file's content (the holder's pid first) and
 * age. A lock that names no process yet is being written, unless it is older than a writer needs.
 */
export function lockHolderGone(
  content: string | undefined,
  ageMs: number,
  alive: (pid: number) => boolean = isProcessAlive,
): boolean {
  const pid = lockHolder(content);
  return pid === undefined ? ageMs > UNNAMED_LOCK_GRACE_MS : !alive(pid);
}

/** The pid a lock file names: its first word, when that is a process id. */
export function lockHolder(content: string | undefined): number | undefined {
  const pid = Number(content?.trim().split(/\s+/)[0]);
  return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined;
}
