import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import type { Platform } from '#shared/registry/digest-resolver.ts';
import {
  type NodeRuntime,
  nodePlatform,
  normalizePlatform,
  platformRank,
  selectPlatformManifest,
} from '#shared/registry/platform-match.ts';
import { formatPlatform } from '#shared/registry/same-build.ts';

// Which child of an index a node pulls: containerd's normalization and variant preferences, within the
// node's own os and architecture.

/** `linux/arm64/v8` → a Platform. */
function platform(text: string): Platform {
  const [os = '', architecture = '', variant] = text.split('/');
  return { os, architecture, ...(variant === undefined ? {} : { variant }) };
}

// [node, offered, rank]: 0 is the exact platform, higher an older variant, undefined no match.
const RANKS: [string, string | undefined, number | undefined][] = [
  ['linux/amd64', 'linux/amd64', 0],
  ['linux/amd64', 'linux/amd64/v1', 0],
  ['linux/amd64', 'linux/x86_64', 0],
  ['linux/amd64', 'linux/x86-64', 0],
  ['Linux/AMD64', 'linux/amd64', 0],
  ['linux/amd64', 'linux/amd64/v2', undefined],
  ['linux/amd64/v3', 'linux/amd64/v3', 0],
  ['linux/amd64/v3', 'linux/amd64/v2', 1],
  ['linux/amd64/v3', 'linux/amd64', 2],
  ['linux/amd64/v3', 'linux/amd64/v4', undefined],
  ['linux/amd64', 'linux/386', undefined],
  ['linux/amd64', 'windows/amd64', undefined],
  ['linux/amd64', 'linux/arm64', undefined],
  ['linux/arm64', 'linux/arm64', 0],
  ['linux/arm64', 'linux/arm64/v8', 0],
  ['linux/arm64/v8', 'linux/arm64', 0],
  ['linux/arm64/v8', 'linux/aarch64', 0],
  ['linux/arm64/v8', 'linux/arm64/8', 0],
  ['linux/arm64/v8', 'linux/arm64/v8.2', undefined],
  ['linux/arm64/v8', 'linux/arm64/v9', undefined],
  ['linux/arm64/v8', 'linux/arm/v7', undefined],
  ['linux/arm64/v8.2', 'linux/arm64/v8.2', 0],
  ['linux/arm64/v8.2', 'linux/arm64/v8.1', 1],
  ['linux/arm64/v8.2', 'linux/arm64', 2],
  ['linux/arm64/v9', 'linux/arm64/v9', 0],
  ['linux/arm64/v9', 'linux/arm64/v8.5', 1],
  ['linux/arm64/v9', 'linux/arm64/v8.4', 2],
  ['linux/arm64/v9', 'linux/arm64/v8', 6],
  ['linux/arm64/v9', 'linux/arm64/v8.6', undefined],
  ['linux/arm64/v9.2', 'linux/arm64/v9.1', 1],
  ['linux/arm64/v9.2', 'linux/arm64/v9', 2],
  ['linux/arm64/v9.2', 'linux/arm64/v8.7', 3],
  ['linux/arm', 'linux/arm', 0],
  ['linux/arm', 'linux/arm/v7', 0],
  ['linux/arm', 'linux/armhf', 0],
  ['linux/arm/v7', 'linux/arm/7', 0],
  ['linux/arm/v7', 'linux/arm/v6', 1],
  ['linux/arm/v7', 'linux/armel', 1],
  ['linux/arm/v7', 'linux/arm/v5', 2],
  ['linux/arm/v7', 'linux/arm/v8', undefined],
  ['linux/arm/v6', 'linux/arm/v7', undefined],
  ['linux/arm/v6', 'linux/arm', undefined],
  ['linux/arm/v8', 'linux/arm/v7', 1],
  ['linux/arm/v5', 'linux/arm/v5', 0],
  ['linux/arm/v7', 'linux/arm64', undefined],
  ['linux/386', 'linux/i386', 0],
  ['darwin/arm64', 'macos/arm64', 0],
  ['linux/ppc64le', 'linux/ppc64le', 0],
  ['linux/ppc64le', 'linux/ppc64', undefined],
  ['linux/s390x', 'linux/s390x', 0],
  ['linux/riscv64', 'linux/riscv64', 0],
  ['linux/riscv64/rva22u64', 'linux/riscv64', undefined],
  ['windows/amd64', 'windows/amd64', 0],
  ['linux/amd64', undefined, undefined],
];

describe('platformRank', () => {
  for (const [node, offered, rank] of RANKS) {
    test(`${node} takes ${offered ?? 'an entry without a platform'}: ${rank ?? 'no'}`, () => {
      assert.equal(
        platformRank(platform(node), offered === undefined ? undefined : platform(offered)),
        rank,
      );
    });
  }
});

describe('normalizePlatform', () => {
  const vectors: [string, string][] = [
    ['linux/x86_64', 'linux/amd64'],
    ['linux/amd64/v1', 'linux/amd64'],
    ['linux/aarch64/v8', 'linux/arm64'],
    ['linux/arm', 'linux/arm/v7'],
    ['linux/armel', 'linux/arm/v6'],
    ['linux/arm/6', 'linux/arm/v6'],
    ['MacOS/ARM64', 'darwin/arm64'],
    ['linux/i386', 'linux/386'],
  ];
  for (const [raw, normalized] of vectors) {
    test(`${raw} → ${normalized}`, () => {
      assert.deepEqual(normalizePlatform(platform(raw)), platform(normalized));
    });
  }
});

describe('selectPlatformManifest', () => {
  // [node, the index's platforms (- for an entry without one), the position picked]
  const vectors: [string, string[], number | undefined][] = [
    ['linux/arm64', ['linux/amd64', 'linux/arm64/v8', '-'], 1],
    ['linux/amd64', ['linux/amd64', 'linux/arm64/v8', '-'], 0],
    ['linux/arm/v7', ['linux/arm/v5', 'linux/arm/v7', 'linux/arm/v6'], 1],
    ['linux/arm/v6', ['linux/arm/v5', 'linux/arm/v7', 'linux/arm/v6'], 2],
    ['linux/arm', ['linux/arm/v5', 'linux/arm/v7', 'linux/arm/v6'], 1],
    ['linux/arm/v7', ['linux/arm/v5', 'linux/arm/v6'], 1],
    ['linux/amd64/v3', ['linux/amd64', 'linux/amd64/v2', 'linux/amd64/v4'], 1],
    ['linux/amd64', ['linux/amd64/v3', 'linux/amd64'], 1],
    ['linux/amd64', ['linux/amd64', 'linux/amd64/v1'], 0],
    ['linux/arm64/v8.2', ['linux/arm64', 'linux/arm64/v8.1'], 1],
    ['linux/amd64', ['-', '-'], undefined],
    ['linux/amd64', ['linux/386', 'windows/amd64', 'linux/arm64'], undefined],
    ['linux/amd64', ['unknown/unknown', 'linux/amd64'], 1],
    ['linux/amd64', [], undefined],
  ];
  for (const [node, offered, picked] of vectors) {
    test(`${node} from [${offered.join(', ')}] → ${picked ?? 'none'}`, () => {
      const entries = offered.map((text, position) => ({
        position,
        ...(text === '-' ? {} : { platform: platform(text) }),
      }));
      assert.equal(selectPlatformManifest(entries, platform(node))?.position, picked);
    });
  }
});

describe('selectPlatformManifest: properties', () => {
  const variantsOf: Record<string, (string | undefined)[]> = {
    amd64: [undefined, 'v1', 'v2', 'v3', 'v4'],
    arm64: [undefined, 'v8', 'v8.1', 'v8.2', 'v9', 'v9.1'],
    arm: [undefined, 'v5', 'v6', 'v7', 'v8'],
    '386': [undefined],
    ppc64le: [undefined],
    s390x: [undefined],
  };
  const platformArbitrary = fc
    .record({
      os: fc.constantFrom('linux', 'windows', 'freebsd'),
      architecture: fc.constantFrom(...Object.keys(variantsOf)),
    })
    .chain(({ os, architecture }) =>
      fc.constantFrom(...(variantsOf[architecture] ?? [undefined])).map(
        (variant): Platform => ({
          os,
          architecture,
          ...(variant === undefined ? {} : { variant }),
        }),
      ),
    );
  const entriesArbitrary = fc.array(
    fc.option(platformArbitrary, { nil: undefined }).map((entryPlatform) => ({
      ...(entryPlatform === undefined ? {} : { platform: entryPlatform }),
    })),
    { maxLength: 12 },
  );
  const same = (a: Platform, b: Platform) =>
    formatPlatform(normalizePlatform(a)) === formatPlatform(normalizePlatform(b));

  test('an entry of the exact platform, when there is one, is the first such entry', () => {
    fc.assert(
      fc.property(entriesArbitrary, platformArbitrary, (entries, wanted) => {
        const exact = entries.find(
          (entry) => entry.platform !== undefined && same(entry.platform, wanted),
        );
        fc.pre(exact !== undefined);
        assert.equal(selectPlatformManifest(entries, wanted), exact);
      }),
    );
  });

  test('the pick is never of another os or architecture, and none is the best there is', () => {
    fc.assert(
      fc.property(entriesArbitrary, platformArbitrary, (entries, wanted) => {
        const picked = selectPlatformManifest(entries, wanted);
        const ranks = entries.map((entry) => platformRank(wanted, entry.platform));
        const matching = ranks.filter((rank) => rank !== undefined);
        if (picked === undefined) {
          assert.equal(matching.length, 0);
          return;
        }
        assert.ok(picked.platform !== undefined);
        const node = normalizePlatform(wanted);
        const offered = normalizePlatform(picked.platform);
        assert.equal(offered.os, node.os);
        assert.equal(offered.architecture, node.architecture);
        const rank = platformRank(wanted, picked.platform);
        assert.equal(rank, Math.min(...matching));
        assert.equal(entries.indexOf(picked), ranks.indexOf(rank));
      }),
    );
  });

  test('a platform always takes itself first', () => {
    fc.assert(
      fc.property(platformArbitrary, (wanted) => {
        assert.equal(platformRank(wanted, wanted), 0);
      }),
    );
  });
});

describe('nodePlatform', () => {
  const vectors: [NodeRuntime, string][] = [
    [{ platform: 'linux', arch: 'x64', endianness: 'LE' }, 'linux/amd64'],
    [{ platform: 'linux', arch: 'arm64', endianness: 'LE' }, 'linux/arm64/v8'],
    [{ platform: 'linux', arch: 'arm', armVersion: '6', endianness: 'LE' }, 'linux/arm/v6'],
    [{ platform: 'linux', arch: 'arm', armVersion: '7', endianness: 'LE' }, 'linux/arm/v7'],
    [{ platform: 'linux', arch: 'arm', endianness: 'LE' }, 'linux/arm/v7'],
    [{ platform: 'linux', arch: 'arm', armVersion: 'default', endianness: 'LE' }, 'linux/arm/v7'],
    [{ platform: 'linux', arch: 'ia32', endianness: 'LE' }, 'linux/386'],
    [{ platform: 'linux', arch: 'ppc64', endianness: 'LE' }, 'linux/ppc64le'],
    [{ platform: 'aix', arch: 'ppc64', endianness: 'BE' }, 'aix/ppc64'],
    [{ platform: 'linux', arch: 's390x', endianness: 'BE' }, 'linux/s390x'],
    [{ platform: 'linux', arch: 'riscv64', endianness: 'LE' }, 'linux/riscv64'],
    [{ platform: 'linux', arch: 'loong64', endianness: 'LE' }, 'linux/loong64'],
    [{ platform: 'linux', arch: 'mipsel', endianness: 'LE' }, 'linux/mipsle'],
    [{ platform: 'win32', arch: 'x64', endianness: 'LE' }, 'windows/amd64'],
    [{ platform: 'darwin', arch: 'arm64', endianness: 'LE' }, 'darwin/arm64/v8'],
    [{ platform: 'sunos', arch: 'x64', endianness: 'LE' }, 'solaris/amd64'],
  ];
  for (const [runtime, expected] of vectors) {
    test(`${runtime.platform}/${runtime.arch}${runtime.armVersion === undefined ? '' : ` (arm_version ${runtime.armVersion})`} → ${expected}`, () => {
      assert.deepEqual(nodePlatform(runtime), platform(expected));
    });
  }

  test('the running machine, in the form its own index entries carry', () => {
    const running = nodePlatform();
    assert.equal(running.os, process.platform === 'win32' ? 'windows' : process.platform);
    if (process.arch === 'x64')
      assert.deepEqual(running, { os: running.os, architecture: 'amd64' });
    assert.equal(platformRank(running, running), 0);
  });
});
