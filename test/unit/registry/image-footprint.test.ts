import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import { DigestResolutionError } from '#shared/registry/digest-resolver.ts';
import {
  type FootprintRequest,
  imageFootprint,
  NoPlatformManifestError,
} from '#shared/registry/image-footprint.ts';
import { MalformedManifestError } from '#shared/registry/manifest.ts';
import { registryBaseUrl } from '#shared/registry/registry-session.ts';
import { rejection } from '../../support/async.ts';
import {
  DOCKER_MANIFEST,
  digestOf,
  OCI_INDEX,
  OCI_MANIFEST,
  type SeenRequest,
  type StubHandler,
  stubRegistry,
} from '../../support/registry-stub.ts';

// imageFootprint against a loopback server playing a registry: manifests served by digest, an index
// narrowed to the node's platform, manifests that cannot be trusted, and the node's own credentials.

const CONFIG = 'application/vnd.oci.image.config.v1+json';
const LAYER = 'application/vnd.oci.image.layer.v1.tar+gzip';
const PASSWORD = 'node-registry-password-7';
const IDENTITY_TOKEN = 'refresh-token-of-the-node-9';
const BASIC = `Basic ${Buffer.from(`node:${PASSWORD}`).toString('base64')}`;

const blob = (seed: string, size: number, mediaType = LAYER) => ({
  mediaType,
  digest: digestOf(seed),
  size,
});

function imageManifest(seed: string, layerSizes: number[], mediaType = OCI_MANIFEST): string {
  return JSON.stringify({
    schemaVersion: 2,
    mediaType,
    config: blob(`${seed} config`, 700, CONFIG),
    layers: layerSizes.map((size, position) => blob(`${seed} layer ${position}`, size)),
  });
}

const AMD64 = imageManifest('amd64', [3_000_000, 20_000]);
const ARM64 = imageManifest('arm64', [2_500_000, 10_000, 5]);
const ARM_V7 = imageManifest('arm v7', [1_000]);
const ATTESTATION = imageManifest('attestation', [40]);

function indexOf(entries: { body: string; platform?: Record<string, string> }[]): string {
  return JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI_INDEX,
    manifests: entries.map(({ body, platform }) => ({
      mediaType: OCI_MANIFEST,
      digest: digestOf(body),
      size: Buffer.byteLength(body),
      ...(platform === undefined ? {} : { platform }),
    })),
  });
}

const INDEX = indexOf([
  { body: AMD64, platform: { os: 'linux', architecture: 'amd64' } },
  { body: ARM64, platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } },
  { body: ARM_V7, platform: { os: 'linux', architecture: 'arm', variant: 'v7' } },
  { body: ATTESTATION },
]);

function resolutionFailure(promise: Promise<unknown>): Promise<DigestResolutionError> {
  return rejection(promise, DigestResolutionError, 'the footprint was read');
}

describe('imageFootprint', () => {
  const registry = stubRegistry();
  const { stub } = registry;
  before(async () => {
    await registry.start();
    stub.put(AMD64, OCI_MANIFEST);
    stub.put(ARM64, OCI_MANIFEST);
    stub.put(ARM_V7, OCI_MANIFEST);
    stub.put(INDEX, OCI_INDEX);
  });
  after(() => registry.stop());
  beforeEach(() => {
    stub.seen.length = 0;
    stub.handle = stub.serveByDigest;
  });

  const request = (digest: string, extra: Partial<FootprintRequest> = {}): FootprintRequest => ({
    registry: stub.host,
    repository: 'team/api',
    reference: { digest },
    platform: { os: 'linux', architecture: 'amd64' },
    endpoint: stub.url,
    ...extra,
  });

  test('an image manifest: its config and layers, read by digest with every manifest type accepted', async () => {
    const footprint = await imageFootprint(request(digestOf(AMD64)));
    assert.deepEqual(footprint, {
      digest: digestOf(AMD64),
      manifestDigest: digestOf(AMD64),
      compressedBytes: 700 + 3_000_000 + 20_000,
      layers: 2,
    });
    assert.deepEqual(
      stub.seen.map((seen) => `${seen.method} ${seen.path}`),
      [`GET /v2/team/api/manifests/${digestOf(AMD64)}`],
    );
    for (const type of [OCI_INDEX, OCI_MANIFEST, DOCKER_MANIFEST]) {
      assert.ok(stub.seen[0]?.accept.includes(type), `Accept names ${type}`);
    }
  });

  test('by tag: the manifest the tag names is fetched once and serves as the first level', async () => {
    stub.manifests.set(
      '1.4.0',
      stub.manifests.get(digestOf(INDEX)) as { body: string; contentType: string },
    );
    const footprint = await imageFootprint({ ...request(''), reference: { tag: '1.4.0' } });
    assert.equal(footprint.digest, digestOf(INDEX));
    assert.equal(footprint.manifestDigest, digestOf(AMD64));
    assert.deepEqual(
      stub.seen.map((seen) => seen.path),
      ['/v2/team/api/manifests/1.4.0', `/v2/team/api/manifests/${digestOf(AMD64)}`],
    );
  });

  test("an index: the child for the node's platform, fetched by its digest", async () => {
    const vectors: [FootprintRequest['platform'], string, number, number][] = [
      [{ os: 'linux', architecture: 'amd64' }, AMD64, 3_020_700, 2],
      [{ os: 'linux', architecture: 'arm64', variant: 'v8' }, ARM64, 2_510_705, 3],
      [{ os: 'linux', architecture: 'arm64' }, ARM64, 2_510_705, 3],
      [{ os: 'linux', architecture: 'arm', variant: 'v8' }, ARM_V7, 1_700, 1],
    ];
    for (const [platform, child, bytes, layers] of vectors) {
      stub.seen.length = 0;
      const footprint = await imageFootprint(request(digestOf(INDEX), { platform }));
      assert.equal(footprint.digest, digestOf(INDEX));
      assert.equal(footprint.manifestDigest, digestOf(child));
      assert.equal(footprint.compressedBytes, bytes);
      assert.equal(footprint.layers, layers);
      assert.deepEqual(
        stub.seen.map((seen) => seen.path),
        [`/v2/team/api/manifests/${digestOf(INDEX)}`, `/v2/team/api/manifests/${digestOf(child)}`],
      );
    }
    const arm64 = await imageFootprint(
      request(digestOf(INDEX), { platform: { os: 'linux', architecture: 'arm64' } }),
    );
    assert.deepEqual(arm64.platform, { os: 'linux', architecture: 'arm64', variant: 'v8' });
  });

  test('an index without a child for the platform names the platforms it has', async () => {
    const error = await resolutionFailure(
      imageFootprint(
        request(digestOf(INDEX), { platform: { os: 'linux', architecture: 's390x' } }),
      ),
    );
    assert.ok(error instanceof NoPlatformManifestError);
    assert.equal(error.reason, 'not-found');
    assert.equal(
      error.message,
      `${stub.host}/team/api@${digestOf(INDEX)} has no manifest for linux/s390x: the index offers linux/amd64, linux/arm64/v8, linux/arm/v7 and 1 entry without a platform`,
    );
    assert.deepEqual(error.wanted, { os: 'linux', architecture: 's390x' });
    assert.equal(error.offered.length, 3);
    assert.equal(stub.seen.length, 1, 'no child was fetched');
  });

  test('an index inside an index is followed to the image manifest', async () => {
    const outer = indexOf([{ body: INDEX, platform: { os: 'linux', architecture: 'amd64' } }]);
    stub.put(outer, OCI_INDEX);
    const footprint = await imageFootprint(request(digestOf(outer)));
    assert.equal(footprint.manifestDigest, digestOf(AMD64));
    assert.equal(stub.seen.length, 3);
  });

  test('a blob listed twice is downloaded, and counted, once', async () => {
    const layer = blob('shared layer', 1_000);
    const manifest = JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: blob('dup config', 10, CONFIG),
      layers: [layer, blob('other layer', 100), layer],
    });
    const footprint = await imageFootprint(request(stub.put(manifest, OCI_MANIFEST)));
    assert.equal(footprint.compressedBytes, 1_110);
    assert.equal(footprint.layers, 3);
  });

  test('a Docker v2 manifest served as application/json is sized by its own media type', async () => {
    const manifest = imageManifest('docker', [42], DOCKER_MANIFEST);
    const footprint = await imageFootprint(
      request(stub.put(manifest, 'application/json; charset=utf-8')),
    );
    assert.equal(footprint.compressedBytes, 742);
  });

  describe('manifests that cannot be trusted', () => {
    const withConfig = (config: unknown, layers: unknown = []) =>
      JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config, layers });
    const config = blob('config', 10, CONFIG);
    const vectors: [string, string, RegExp][] = [
      ['a negative layer size', withConfig(config, [blob('l', -1)]), /layer 0 .*size -1/],
      ['no config', withConfig(undefined, []), /the config .*not a descriptor/],
      ['a size that is not an integer', withConfig(config, [blob('l', 1.5)]), /size 1.5/],
      ['a size given as a string', withConfig({ ...config, size: '10' }), /size string/],
      ['a config without a size', withConfig({ digest: config.digest }), /size undefined/],
      ['a size past 2^53', withConfig(config, [blob('l', 2 ** 53)]), /size 9007199254740992/],
      [
        'a size too large for a double',
        withConfig(config, [blob('l', 1)]).replace('"size":1}', '"size":1e400}'),
        /size Infinity/,
      ],
      ['no layers array', withConfig(config, null), /no layers array/],
      [
        'a layer without a valid digest',
        withConfig(config, [{ digest: 'sha256:short', size: 1 }]),
        /layer 0 .*no valid digest/,
      ],
      ['not JSON', '{"config":', /not JSON/],
    ];
    for (const [name, body, message] of vectors) {
      test(name, async () => {
        const error = await resolutionFailure(
          imageFootprint(request(stub.put(body, OCI_MANIFEST))),
        );
        assert.equal(error.reason, 'registry');
        assert.ok(error.cause instanceof MalformedManifestError);
        assert.match(error.message, message);
        assert.ok(error.message.startsWith(`${stub.host}/team/api@sha256:`), error.message);
      });
    }

    test('sizes that add up past 2^53', async () => {
      const half = 2 ** 52;
      const body = withConfig(config, [blob('a', half), blob('b', half)]);
      const error = await resolutionFailure(imageFootprint(request(stub.put(body, OCI_MANIFEST))));
      assert.equal(error.reason, 'registry');
      assert.match(error.message, /sizes add up past 9007199254740991 bytes/);
    });

    test('one blob given two sizes', async () => {
      const body = withConfig(config, [blob('a', 1), blob('a', 2)]);
      const error = await resolutionFailure(imageFootprint(request(stub.put(body, OCI_MANIFEST))));
      assert.match(error.message, /two sizes, 1 and 2/);
    });

    test('a manifest of a type a node does not pull', async () => {
      const body = JSON.stringify({
        schemaVersion: 1,
        mediaType: 'application/vnd.docker.distribution.manifest.v1+prettyjws',
        fsLayers: [],
      });
      const error = await resolutionFailure(
        imageFootprint(request(stub.put(body, 'application/json'))),
      );
      assert.equal(error.reason, 'registry');
      assert.match(error.message, /manifest\.v1\+prettyjws, not an image manifest/);
    });

    test('bytes that do not hash to the digest asked for', async () => {
      const asked = stub.put(
        imageManifest('tampered', [1]),
        OCI_MANIFEST,
        AMD64.replace('3000000', '1'),
      );
      const error = await resolutionFailure(imageFootprint(request(asked)));
      assert.equal(error.reason, 'registry');
      assert.match(error.message, new RegExp(`does not hash to ${asked}`));
    });

    test('a child whose bytes do not hash to the digest its index names', async () => {
      const child = imageManifest('child', [5]);
      const index = indexOf([{ body: child, platform: { os: 'linux', architecture: 'amd64' } }]);
      stub.put(imageManifest('impostor', [5]), OCI_MANIFEST, child);
      const error = await resolutionFailure(imageFootprint(request(stub.put(index, OCI_INDEX))));
      assert.equal(error.reason, 'registry');
      assert.match(
        error.message,
        new RegExp(
          `@${digestOf(child)} \\(linux/amd64 of .*\\): the manifest the registry served does not hash`,
        ),
      );
    });

    test('a digest that is not one is refused before any request', async () => {
      await assert.rejects(imageFootprint(request('sha256:abc')), TypeError);
      await assert.rejects(imageFootprint(request('latest')), TypeError);
      assert.equal(stub.seen.length, 0);
    });
  });

  test('not-found, rate-limited and unreachable registries keep their reasons', async () => {
    const missing = await resolutionFailure(imageFootprint(request(digestOf('nothing here'))));
    assert.equal(missing.reason, 'not-found');
    assert.match(missing.message, /team\/api@sha256:[0-9a-f]{64} does not exist in the registry/);

    stub.handle = (_q, r) => r.writeHead(429, { 'retry-after': '30' }).end();
    const limited = await resolutionFailure(imageFootprint(request(digestOf(AMD64))));
    assert.equal(limited.reason, 'rate-limited');
    assert.match(limited.message, /retry after 30 s/);

    const unreachable = await resolutionFailure(
      imageFootprint(request(digestOf(AMD64), { endpoint: 'http://127.0.0.1:1' })),
    );
    assert.equal(unreachable.reason, 'network');
  });

  describe("the node's credentials", () => {
    const bearer = (accepts: (seen: SeenRequest) => string | undefined): StubHandler => {
      return (request, response, seen) => {
        if (seen.path.startsWith('/token')) {
          const token = accepts(seen);
          if (token === undefined) return response.writeHead(401).end();
          return response.writeHead(200).end(JSON.stringify({ access_token: token }));
        }
        if (seen.authorization !== 'Bearer granted') {
          return response
            .writeHead(401, {
              'www-authenticate': `Bearer realm="${stub.url}/token",service="stub-registry"`,
            })
            .end();
        }
        stub.serveByDigest(request, response, seen);
      };
    };

    test('username and password: a token fetched with Basic, for pull on the repository', async () => {
      stub.handle = bearer((seen) => (seen.authorization === BASIC ? 'granted' : undefined));
      const footprint = await imageFootprint(
        request(digestOf(INDEX), { credentials: { username: 'node', password: PASSWORD } }),
      );
      assert.equal(footprint.manifestDigest, digestOf(AMD64));
      assert.deepEqual(
        stub.seen.map((seen) => `${seen.method} ${seen.path.split('?')[0]} ${seen.authorization}`),
        [
          `GET /v2/team/api/manifests/${digestOf(INDEX)} -`,
          `GET /token ${BASIC}`,
          `GET /v2/team/api/manifests/${digestOf(INDEX)} Bearer granted`,
          `GET /v2/team/api/manifests/${digestOf(AMD64)} Bearer granted`,
        ],
        'the token serves the child too',
      );
      assert.equal(
        stub.seen[1]?.path,
        '/token?service=stub-registry&scope=repository%3Ateam%2Fapi%3Apull',
      );
    });

    test('an identity token is a refresh token, POSTed to the token service as OAuth2 asks', async () => {
      stub.handle = bearer((seen) => {
        if (seen.method !== 'POST') return undefined;
        const form = new URLSearchParams(seen.body);
        return form.get('grant_type') === 'refresh_token' &&
          form.get('refresh_token') === IDENTITY_TOKEN &&
          form.get('service') === 'stub-registry' &&
          form.get('scope') === 'repository:team/api:pull' &&
          form.get('client_id') === 'pullwarden'
          ? 'granted'
          : undefined;
      });
      const footprint = await imageFootprint(
        request(digestOf(AMD64), { credentials: { identityToken: IDENTITY_TOKEN } }),
      );
      assert.equal(footprint.compressedBytes, 3_020_700);
      assert.equal(stub.seen[1]?.method, 'POST');
      assert.equal(stub.seen[1]?.authorization, '-');
    });

    test('a token service without the OAuth2 POST is asked with GET', async () => {
      stub.handle = bearer((seen) => (seen.method === 'GET' ? 'granted' : undefined));
      const inner = stub.handle;
      stub.handle = (request, response, seen) =>
        seen.method === 'POST' ? response.writeHead(404).end() : inner(request, response, seen);
      await imageFootprint(
        request(digestOf(AMD64), { credentials: { identityToken: IDENTITY_TOKEN } }),
      );
      assert.deepEqual(
        stub.seen.map((seen) => seen.method),
        ['GET', 'POST', 'GET', 'GET'],
      );
    });

    test('a refused identity token is an authentication failure that does not quote it', async () => {
      stub.handle = bearer(() => undefined);
      const error = await resolutionFailure(
        imageFootprint(
          request(digestOf(AMD64), { credentials: { identityToken: IDENTITY_TOKEN } }),
        ),
      );
      assert.equal(error.reason, 'authentication');
      assert.match(error.message, /token service of .* answered 401/);
      assert.doesNotMatch(error.message, new RegExp(IDENTITY_TOKEN));
    });

    test('Basic: the password is sent, never quoted', async () => {
      stub.handle = (request, response, seen) =>
        seen.authorization === BASIC
          ? stub.serveByDigest(request, response, seen)
          : response.writeHead(401, { 'www-authenticate': 'Basic realm="r"' }).end();
      const footprint = await imageFootprint(
        request(digestOf(ARM64), { credentials: { username: 'node', password: PASSWORD } }),
      );
      assert.equal(footprint.layers, 3);

      const refused = await resolutionFailure(
        imageFootprint(
          request(digestOf(ARM64), { credentials: { username: 'node', password: 'wrong' } }),
        ),
      );
      assert.equal(refused.reason, 'authentication');
      assert.match(
        refused.message,
        /refused access to .*team\/api@sha256:[0-9a-f]{64} \(HTTP 401\)$/,
      );

      const none = await resolutionFailure(imageFootprint(request(digestOf(ARM64))));
      assert.equal(none.reason, 'authentication');
      assert.match(
        none.message,
        /requires credentials: the node has no username and password for it/,
      );
      for (const error of [refused, none]) {
        assert.doesNotMatch(error.message, new RegExp(PASSWORD));
        assert.doesNotMatch(error.message, new RegExp(BASIC.slice(6)));
      }
    });

    test('a refusal without credentials says the node has none', async () => {
      stub.handle = bearer(() => 'anonymous');
      const error = await resolutionFailure(imageFootprint(request(digestOf(AMD64))));
      assert.equal(error.reason, 'authentication');
      assert.match(
        error.message,
        new RegExp(`\\(HTTP 401\\): the node has no credentials for ${stub.host}`),
      );
    });
  });
});

describe('registryBaseUrl', () => {
  test('HTTPS on the host, Docker Hub at registry-1, an override as given without trailing slashes', () => {
    assert.equal(registryBaseUrl('ghcr.io'), 'https://ghcr.io');
    assert.equal(registryBaseUrl('127.0.0.1:5000'), 'https://127.0.0.1:5000');
    assert.equal(registryBaseUrl('docker.io'), 'https://registry-1.docker.io');
    assert.equal(
      registryBaseUrl('127.0.0.1:5000', 'http://127.0.0.1:5000//'),
      'http://127.0.0.1:5000',
    );
  });
});
