import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, mock, test } from 'node:test';
import {
  isProcessAlive,
  lockHolder,
  lockHolderGone,
  writeFileAtomically,
} from '#shared/runtime/files.ts';

let directory: string;
before(async () => {
  directory = await mkdtemp(join(tmpdir(), 'pullwarden-files-'));
});
after(async () => {
  await rm(directory, { recursive: true, force: true });
});

describe('writeFileAtomically', () => {
  test('replaces the content whole, with the mode asked, and leaves no temporary file', async () => {
    const target = join(directory, 'state.json');
    await writeFile(target, 'old\n');
    await writeFileAtomically(target, 'new\n');
    assert.equal(await readFile(target, 'utf8'), 'new\n');
    assert.equal((await stat(target)).mode & 0o777, 0o600);
    await writeFileAtomically(target, 'shared\n', 0o644);
    assert.equal((await stat(target)).mode & 0o777, 0o644);
    assert.deepEqual(await readdir(directory), ['state.json']);
  });

  test('syncs the file before the rename and the directory after it', async () => {
    const target = join(directory, 'synced.json');
    const events: string[] = [];
    const open = fs.open;
    const opened = mock.method(fs, 'open', async (...args: Parameters<typeof fs.open>) => {
      const handle = await open(...args);
      const sync = handle.sync.bind(handle);
      handle.sync = async () => {
        events.push(`sync ${String(args[0])}`);
        await sync();
      };
      return handle;
    });
    const rename = fs.rename;
    const renamed = mock.method(fs, 'rename', async (...args: Parameters<typeof fs.rename>) => {
      events.push('rename');
      await rename(...args);
    });
    try {
      await writeFileAtomically(target, 'durable\n');
    } finally {
      opened.mock.restore();
      renamed.mock.restore();
    }
    assert.equal(events.length, 3, events.join(', '));
    assert.match(events[0] ?? '', /^sync .*synced\.json\.\d+\.[0-9a-f]{8}\.tmp$/);
    assert.deepEqual(events.slice(1), ['rename', `sync ${directory}`]);
    assert.equal(await readFile(target, 'utf8'), 'durable\n');
  });

  test('a directory that cannot be opened or synced here is left as it is; a failing disk is not', async () => {
    const target = join(directory, 'platform.json');
    const open = fs.open;
    // Where the directory fails (opening it, or syncing it), the error, and whether the write reports it.
    const cases = [
      ['open', 'EISDIR', false],
      ['open', 'EACCES', false],
      ['open', 'EPERM', false],
      ['sync', 'EBADF', false],
      ['sync', 'EINVAL', false],
      ['sync', 'ENOTSUP', false],
      ['open', 'EIO', true],
      ['sync', 'EIO', true],
    ] as const;
    for (const [where, code, reported] of cases) {
      const refusal = () => Object.assign(new Error(code), { code });
      const opened = mock.method(fs, 'open', async (...args: Parameters<typeof fs.open>) => {
        if (args[0] !== directory) return open(...args);
        if (where === 'open') throw refusal();
        const handle = await open(...args);
        handle.sync = async () => {
          throw refusal();
        };
        return handle;
      });
      try {
        const written = writeFileAtomically(target, `${where} ${code}\n`);
        if (reported) await assert.rejects(written, { code });
        else await written;
      } finally {
        opened.mock.restore();
      }
      // Either way the rename happened: the content is the new one.
      assert.equal(await readFile(target, 'utf8'), `${where} ${code}\n`, `${where} ${code}`);
    }
  });

  test('a write that fails leaves what was there, and no temporary file', async () => {
    const target = join(directory, 'held');
    // A directory where the file should go: the rename over it fails.
    await mkdir(join(target, 'inside'), { recursive: true });
    await assert.rejects(writeFileAtomically(target, 'lost'), { code: 'EISDIR' });
    assert.deepEqual(await readdir(target), ['inside']);
    assert.deepEqual(
      (await readdir(directory)).filter((name) => name.endsWith('.tmp')),
      [],
    );
  });
});

describe('isProcessAlive', () => {
  test('this process is alive; one that has exited is not', () => {
    assert.equal(isProcessAlive(process.pid), true);
    const exited = spawnSync(process.execPath, ['-e', 'process.exit(0)']);
    assert.equal(exited.status, 0);
    assert.equal(isProcessAlive(exited.pid ?? 0), false);
  });

  test('a number no process can have is not alive, and signals nothing', () => {
    // 0 and -1 would signal this process group and every process the user may signal.
    for (const pid of [0, -1, 1.5, 2 ** 31, Number.NaN])
      assert.equal(isProcessAlive(pid), false, String(pid));
  });

  test("a process of another user counts as alive: only 'no such process' says it is gone", (t) => {
    const refuse = (code: string) =>
      t.mock.method(process, 'kill', () => {
        throw Object.assign(new Error(code), { code });
      });
    refuse('EPERM');
    assert.equal(isProcessAlive(4242), true);
    t.mock.restoreAll();
    refuse('ESRCH');
    assert.equal(isProcessAlive(4242), false);
  });
});

describe('lock holders', () => {
  test('the pid a lock names is its first word', () => {
    for (const [content, pid] of [
      ['4242\n', 4242],
      ['4242 9f3a\n', 4242],
      ['  77  ', 77],
      ['', undefined],
      [undefined, undefined],
      ['0', undefined],
      ['-3', undefined],
      ['abc 4242', undefined],
      ['1.5', undefined],
    ] as const) {
      assert.equal(lockHolder(content), pid, JSON.stringify(content));
    }
  });

  test('a named holder is gone when its process is; an unnamed one once the lock is old', () => {
    // Content, age in ms, whether the named process is alive, and whether the holder is gone.
    for (const [content, ageMs, alive, gone] of [
      ['4242\n', 0, true, false],
      ['4242\n', 0, false, true],
      ['', 1_000, true, false],
      ['', 60_000, true, true],
    ] as const) {
      assert.equal(
        lockHolderGone(content, ageMs, () => alive),
        gone,
        `${JSON.stringify(content)} ${ageMs} ms`,
      );
    }
  });
});
