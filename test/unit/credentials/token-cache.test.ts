import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, test } from 'node:test';
import { FileTokenCache, LockTimeoutError } from '#shared/credentials/token-cache.ts';

// The node cache's lock: one holder at a time, quick takeover from a holder that died, and a holder
// never removing a lock that is not its own.

let directory: string;
let cache: FileTokenCache;
const KEY = 'ecr|aws|eu-west-1|node';
const OPTIONS = { waitMs: 2000, staleMs: 60_000 };

beforeEach(async () => {
  directory = await mkdtemp(join(tmpdir(), 'pullwarden-lock-'));
  cache = new FileTokenCache(directory);
});
afterEach(() => rm(directory, { recursive: true, force: true }));

const lockOf = () => `${cache.pathOf(KEY)}.lock`;

test('holders take turns', async () => {
  let inside = 0;
  let overlapped = false;
  const work = async () => {
    inside++;
    if (inside > 1) overlapped = true;
    await new Promise((resolve) => setTimeout(resolve, 30));
    inside--;
  };
  await Promise.all(Array.from({ length: 5 }, () => cache.withLock(KEY, OPTIONS, work)));
  assert.equal(overlapped, false);
  await assert.rejects(stat(lockOf()), { code: 'ENOENT' }, 'released');
});

test('a lock left by a process that exited is taken over at once', async () => {
  const exited = spawnSync(process.execPath, ['-e', 'process.pid']).pid as number;
  await cache.withLock(KEY, OPTIONS, async () => undefined); // creates the directory
  await writeFile(lockOf(), `${exited} deadbeefdeadbeef\n`);
  const started = Date.now();
  await cache.withLock(KEY, OPTIONS, async () => undefined);
  assert.ok(Date.now() - started < 1000, 'no wait for a dead holder');
});

test('a live holder is waited for, and the wait gives up with LockTimeoutError', async () => {
  await cache.withLock(KEY, OPTIONS, async () => undefined);
  await writeFile(lockOf(), `${process.ppid} 0123456789abcdef\n`);
  await assert.rejects(
    cache.withLock(KEY, { waitMs: 200, staleMs: 60_000 }, async () => undefined),
    LockTimeoutError,
  );
  assert.equal(await readFile(lockOf(), 'utf8'), `${process.ppid} 0123456789abcdef\n`);
});

test("a holder whose lock was taken over does not remove the new holder's lock", async () => {
  await cache.withLock(KEY, OPTIONS, async () => {
    await writeFile(lockOf(), `${process.ppid} feedfacefeedface\n`);
  });
  assert.equal(await readFile(lockOf(), 'utf8'), `${process.ppid} feedfacefeedface\n`);
});
