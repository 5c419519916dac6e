import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import type { ResolvedDigest } from '#shared/registry/digest-resolver.ts';
import { formatPlatform, sameBuild, servedChild } from '#shared/registry/same-build.ts';

// A running digest is the served build when it is the digest the tag names or a platform manifest of
// the index the tag names; anything else is another build.

const digest = (hexDigit: string) => `sha256:${hexDigit.repeat(64)}`;
const INDEX = digest('a');
const AMD64 = digest('b');
const ARM64 = digest('c');
const OLD = digest('d');

const index: ResolvedDigest = {
  digest: INDEX,
  mediaType: 'application/vnd.oci.image.index.v1+json',
  manifests: [
    { digest: AMD64, platform: { os: 'linux', architecture: 'amd64' } },
    { digest: ARM64, platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } },
  ],
};
const single: ResolvedDigest = {
  digest: AMD64,
  mediaType: 'application/vnd.oci.image.manifest.v1+json',
};
// An index whose children the resolver did not list: only the index digest can be recognised.
const unlisted: ResolvedDigest = { digest: INDEX, mediaType: index.mediaType };

describe('sameBuild', () => {
  const vectors: [string, string, ResolvedDigest, boolean][] = [
    ['the runtime reports the index digest', INDEX, index, true],
    ['the runtime reports the amd64 manifest of the index', AMD64, index, true],
    ['the runtime reports the arm64 manifest of the index', ARM64, index, true],
    ['a digest of an older build', OLD, index, false],
    ['the single manifest the tag names', AMD64, single, true],
    ['another single manifest', ARM64, single, false],
    ['a child of an index whose children are not known', AMD64, unlisted, false],
    ['the index digest of an index whose children are not known', INDEX, unlisted, true],
    ['digests compare exactly (no case folding)', AMD64.toUpperCase(), index, false],
  ];
  for (const [name, running, served, expected] of vectors) {
    test(name, () => assert.equal(sameBuild(running, served), expected));
  }

  const hex = fc.stringMatching(/^[0-9a-f]{64}$/).map((h) => `sha256:${h}`);
  const servedArbitrary = fc.tuple(hex, fc.uniqueArray(hex, { maxLength: 6 }), fc.boolean()).map(
    ([top, children, isIndex]): ResolvedDigest => ({
      digest: top,
      mediaType: undefined,
      ...(isIndex ? { manifests: children.map((child) => ({ digest: child })) } : {}),
    }),
  );

  test('true exactly for the served digest and its children', () => {
    fc.assert(
      fc.property(servedArbitrary, hex, (served, running) => {
        const known = new Set([served.digest, ...(served.manifests ?? []).map((c) => c.digest)]);
        assert.equal(sameBuild(running, served), known.has(running));
        for (const digestOfBuild of known) assert.equal(sameBuild(digestOfBuild, served), true);
      }),
    );
  });
});

describe('servedChild and formatPlatform', () => {
  test('the child a running digest is, with its platform', () => {
    assert.deepEqual(servedChild(ARM64, index)?.platform, {
      os: 'linux',
      architecture: 'arm64',
      variant: 'v8',
    });
    assert.equal(servedChild(INDEX, index), undefined, 'the index itself is no child');
    assert.equal(servedChild(OLD, index), undefined);
    assert.equal(servedChild(AMD64, single), undefined);
  });

  test('os/architecture[/variant]', () => {
    assert.equal(formatPlatform({ os: 'linux', architecture: 'amd64' }), 'linux/amd64');
    assert.equal(
      formatPlatform({ os: 'linux', architecture: 'arm64', variant: 'v8' }),
      'linux/arm64/v8',
    );
  });
});
