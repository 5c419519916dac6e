import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, test } from 'node:test';
import {
  bareMediaType,
  bytesMatchDigest,
  isImageManifestMediaType,
  isIndexMediaType,
  MalformedManifestError,
  parseManifest,
  sha256Digest,
} from '#shared/registry/manifest.ts';

// What a resolver reads from a manifest body: index or not, and an index's children.

const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const CHILD = `sha256:${'e'.repeat(64)}`;

describe('parseManifest', () => {
  test('an image manifest has no children', () => {
    assert.deepEqual(parseManifest(JSON.stringify({ mediaType: OCI_MANIFEST }), OCI_MANIFEST), {
      mediaType: OCI_MANIFEST,
    });
  });

  test('the declared type wins over the body when it names a manifest type', () => {
    const body = JSON.stringify({ mediaType: OCI_INDEX, manifests: [] });
    assert.deepEqual(parseManifest(body, OCI_MANIFEST), { mediaType: OCI_MANIFEST });
  });

  test('without a usable declared type, an index without mediaType is known by its manifests', () => {
    const body = JSON.stringify({
      schemaVersion: 2,
      manifests: [
        { digest: CHILD, platform: { os: 'windows', architecture: 'amd64', variant: '' } },
      ],
    });
    assert.deepEqual(parseManifest(body, undefined), {
      mediaType: undefined,
      manifests: [{ digest: CHILD, platform: { os: 'windows', architecture: 'amd64' } }],
    });
  });

  test('platforms without os or architecture are left out', () => {
    const body = JSON.stringify({
      mediaType: OCI_INDEX,
      manifests: [{ digest: CHILD, platform: { architecture: 'unknown' } }],
    });
    assert.deepEqual(parseManifest(body, 'application/json').manifests, [{ digest: CHILD }]);
  });

  const malformed: [string, string][] = [
    ['not JSON', '{'],
    ['not an object', '[]'],
    ['an index without manifests', JSON.stringify({ mediaType: OCI_INDEX })],
    [
      'a child with a bad digest',
      JSON.stringify({ mediaType: OCI_INDEX, manifests: [{ digest: 'sha256:abc' }] }),
    ],
    ['a child that is not an object', JSON.stringify({ mediaType: OCI_INDEX, manifests: [7] })],
  ];
  for (const [name, body] of malformed) {
    test(`refuses ${name}`, () => {
      assert.throws(() => parseManifest(body, undefined), MalformedManifestError);
    });
  }
});

describe('media types and digests', () => {
  test('classification', () => {
    assert.equal(isIndexMediaType(OCI_INDEX), true);
    assert.equal(
      isIndexMediaType('application/vnd.docker.distribution.manifest.list.v2+json'),
      true,
    );
    assert.equal(isIndexMediaType(OCI_MANIFEST), false);
    assert.equal(isImageManifestMediaType(OCI_MANIFEST), true);
    assert.equal(isImageManifestMediaType(undefined), false);
    assert.equal(bareMediaType(' Application/JSON ; charset=utf-8'), 'application/json');
    assert.equal(bareMediaType(null), undefined);
  });

  test('bytes are checked with the digest algorithm they are named with', () => {
    const bytes = Buffer.from('manifest');
    assert.equal(bytesMatchDigest(bytes, sha256Digest(bytes)), true);
    assert.equal(bytesMatchDigest(Buffer.from('other'), sha256Digest(bytes)), false);
    const sha512 = `sha512:${createHash('sha512').update(bytes).digest('hex')}`;
    assert.equal(bytesMatchDigest(bytes, sha512), true);
  });
});
