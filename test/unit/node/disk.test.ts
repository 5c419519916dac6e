import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import type { PrePullSettings } from '#shared/credentials/node-config.ts';
import { diskVerdict, type FilesystemSpace, measureImageFilesystem } from '#shared/node/disk.ts';
import { formatBytes } from '#shared/text/bytes.ts';

// Whether an image fits: compressed size plus its unpacked estimate against free space, keeping free
// the larger of a share of the filesystem and a byte floor.

const KIB = 1024;
const MIB = 2 ** 20;
const GIB = 2 ** 30;

type Disk = Pick<PrePullSettings['disk'], 'minFreePercent' | 'minFreeBytes' | 'expansionRatio'>;

function space(
  freeBytes: number,
  totalBytes: number,
  path = '/var/lib/containerd',
): FilesystemSpace {
  return { path, freeBytes, totalBytes };
}

describe('formatBytes', () => {
  const vectors: [number, string][] = [
    [0, '0 B'],
    [1, '1 B'],
    [1023, '1023 B'],
    [KIB, '1.0 KiB'],
    [1536, '1.5 KiB'],
    [MIB, '1.0 MiB'],
    [500 * MIB, '500.0 MiB'],
    [GIB, '1.0 GiB'],
    [2.5 * GIB, '2.5 GiB'],
    [2 ** 40, '1024.0 GiB'],
  ];
  for (const [bytes, text] of vectors) {
    test(`${bytes} → ${text}`, () => {
      assert.equal(formatBytes(bytes), text);
    });
  }
});

describe('diskVerdict', () => {
  const cases: {
    name: string;
    compressed: number;
    free: number;
    total: number;
    disk: Disk;
    reserved?: number;
    fits: boolean;
    need: number;
    keep: number;
  }[] = [
    {
      name: 'the percentage wins over a smaller byte floor',
      compressed: GIB,
      free: 30 * GIB,
      total: 100 * GIB,
      disk: { minFreePercent: 15, minFreeBytes: GIB, expansionRatio: 2 },
      fits: true,
      need: 3 * GIB,
      keep: 15 * GIB,
    },
    {
      name: 'the byte floor wins over a smaller percentage',
      compressed: GIB,
      free: 30 * GIB,
      total: 100 * GIB,
      disk: { minFreePercent: 1, minFreeBytes: 28 * GIB, expansionRatio: 2 },
      fits: false,
      need: 3 * GIB,
      keep: 28 * GIB,
    },
    {
      name: 'expansion ratio 0 counts the compressed size only',
      compressed: 5 * GIB,
      free: 20 * GIB,
      total: 100 * GIB,
      disk: { minFreePercent: 15, minFreeBytes: 0, expansionRatio: 0 },
      fits: true,
      need: 5 * GIB,
      keep: 15 * GIB,
    },
    {
      name: 'the same image with the default ratio does not fit',
      compressed: 5 * GIB,
      free: 20 * GIB,
      total: 100 * GIB,
      disk: { minFreePercent: 15, minFreeBytes: 0, expansionRatio: 2 },
      fits: false,
      need: 15 * GIB,
      keep: 15 * GIB,
    },
    {
      name: 'leaving exactly the amount to keep free fits',
      compressed: 1000,
      free: 12_000,
      total: 100_000,
      disk: { minFreePercent: 10, minFreeBytes: 0, expansionRatio: 1 },
      fits: true,
      need: 2000,
      keep: 10_000,
    },
    {
      name: 'one byte less does not',
      compressed: 1000,
      free: 11_999,
      total: 100_000,
      disk: { minFreePercent: 10, minFreeBytes: 0, expansionRatio: 1 },
      fits: false,
      need: 2000,
      keep: 10_000,
    },
    {
      name: 'a fractional need rounds up',
      compressed: 3,
      free: 1000,
      total: 1000,
      disk: { minFreePercent: 0, minFreeBytes: 0, expansionRatio: 0.5 },
      fits: true,
      need: 5,
      keep: 0,
    },
    {
      name: 'a fractional keep-free share rounds up',
      compressed: 0,
      free: 10,
      total: 999,
      disk: { minFreePercent: 1, minFreeBytes: 0, expansionRatio: 2 },
      fits: true,
      need: 0,
      keep: 10,
    },
    {
      name: 'bytes promised to pulls in flight are not free',
      compressed: GIB,
      free: 13 * GIB,
      total: 100 * GIB,
      disk: { minFreePercent: 10, minFreeBytes: 0, expansionRatio: 1 },
      reserved: 2 * GIB,
      fits: false,
      need: 2 * GIB,
      keep: 10 * GIB,
    },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const verdict = diskVerdict(c.compressed, space(c.free, c.total), c.disk, c.reserved);
      assert.equal(verdict.fits, c.fits, verdict.fits ? 'fits' : verdict.message);
      assert.equal(verdict.needBytes, c.need);
      assert.equal(verdict.keepFreeBytes, c.keep);
    });
  }

  test('a refusal names the need, the free space, what must stay free and why', () => {
    const verdict = diskVerdict(
      GIB,
      space(11 * GIB, 100 * GIB),
      { minFreePercent: 10, minFreeBytes: 2 * GIB, expansionRatio: 2 },
      512 * MIB,
    );
    assert.equal(verdict.fits, false);
    if (verdict.fits) return;
    assert.equal(
      verdict.message,
      'needs about 3.0 GiB (1.0 GiB compressed, unpacked ×2) but /var/lib/containerd has 11.0 GiB free ' +
        '(512.0 MiB of it promised to pulls in flight) and must keep 10.0 GiB free ' +
        '(max of 10% of 100.0 GiB and 2.0 GiB)',
    );
  });

  test('a refusal with nothing in flight says nothing of promises', () => {
    const verdict = diskVerdict(GIB, space(GIB, 100 * GIB), {
      minFreePercent: 10,
      minFreeBytes: 0,
      expansionRatio: 2,
    });
    assert.equal(verdict.fits, false);
    assert.ok(!verdict.fits && !verdict.message.includes('promised'));
  });

  const disks = fc.record({
    minFreePercent: fc.integer({ min: 0, max: 99 }),
    minFreeBytes: fc.integer({ min: 0, max: 4 * GIB }),
    expansionRatio: fc.constantFrom(0, 0.5, 1, 2, 3.5, 20),
  });
  const bytes = fc.integer({ min: 0, max: 2 ** 40 });

  test('more free space never turns a fit into a refusal', () => {
    fc.assert(
      fc.property(
        bytes,
        bytes,
        fc.integer({ min: 0, max: 2 ** 40 }),
        bytes,
        bytes,
        disks,
        (compressed, free, more, total, reserved, disk) => {
          const before = diskVerdict(compressed, space(free, total), disk, reserved);
          const after = diskVerdict(compressed, space(free + more, total), disk, reserved);
          if (before.fits) assert.equal(after.fits, true);
        },
      ),
    );
  });

  test('a larger image never turns a refusal into a fit', () => {
    fc.assert(
      fc.property(
        bytes,
        fc.integer({ min: 0, max: 2 ** 40 }),
        bytes,
        bytes,
        bytes,
        disks,
        (compressed, larger, free, total, reserved, disk) => {
          const before = diskVerdict(compressed, space(free, total), disk, reserved);
          const after = diskVerdict(compressed + larger, space(free, total), disk, reserved);
          if (!before.fits) assert.equal(after.fits, false);
          assert.ok(after.needBytes >= before.needBytes);
        },
      ),
    );
  });

  test('more in flight never turns a refusal into a fit', () => {
    fc.assert(
      fc.property(
        bytes,
        bytes,
        bytes,
        bytes,
        bytes,
        disks,
        (compressed, free, total, r, more, disk) => {
          const before = diskVerdict(compressed, space(free, total), disk, r);
          const after = diskVerdict(compressed, space(free, total), disk, r + more);
          if (!before.fits) assert.equal(after.fits, false);
        },
      ),
    );
  });

  test('a fit always leaves at least the amount to keep free', () => {
    fc.assert(
      fc.property(bytes, bytes, bytes, bytes, disks, (compressed, free, total, reserved, disk) => {
        const verdict = diskVerdict(compressed, space(free, total), disk, reserved);
        assert.ok(verdict.needBytes >= compressed);
        assert.ok(verdict.keepFreeBytes >= disk.minFreeBytes);
        if (verdict.fits) {
          assert.ok(free - reserved - verdict.needBytes >= verdict.keepFreeBytes);
        }
      }),
    );
  });
});

describe('measureImageFilesystem', () => {
  function errno(code: string): Error {
    return Object.assign(new Error(`${code}: no such file or directory, statfs`), { code });
  }

  test('the first candidate that can be measured wins; empty candidates are skipped', async () => {
    const asked: string[] = [];
    const measured = await measureImageFilesystem(
      ['', '/missing', '/var/lib/containerd', '/'],
      async (path) => {
        asked.push(path);
        if (path === '/missing') throw errno('ENOENT');
        return space(7 * GIB, 50 * GIB, path);
      },
    );
    assert.deepEqual(measured, space(7 * GIB, 50 * GIB, '/var/lib/containerd'));
    assert.deepEqual(asked, ['/missing', '/var/lib/containerd']);
  });

  test('none measurable: every problem is reported, by code when there is one', async () => {
    await assert.rejects(
      measureImageFilesystem(['/a', '', '/b'], async (path) => {
        if (path === '/a') throw errno('EACCES');
        throw new Error('statfs is not supported');
      }),
      {
        message: 'cannot measure the image filesystem (/a: EACCES; /b: statfs is not supported)',
      },
    );
  });

  test('no candidates at all is an error, not a guess', async () => {
    await assert.rejects(
      measureImageFilesystem([], async () => space(1, 1)),
      /cannot measure the image filesystem/,
    );
  });

  test('the real statfs measures an existing directory', async () => {
    const measured = await measureImageFilesystem(['/nonexistent/pullwarden/x', '/']);
    assert.equal(measured.path, '/');
    assert.ok(measured.totalBytes > 0);
    assert.ok(measured.freeBytes >= 0 && measured.freeBytes <= measured.totalBytes);
  });
});
