import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { DigestResolutionError } from '#shared/registry/digest-resolver.ts';
import {
  type FootprintRequest,
  imageFootprint,
  NoPlatformManifestError,
} from '#shared/registry/image-footprint.ts';
import { rejection } from '../support/async.ts';
import {
  inspectRawManifest,
  pushOciImage,
  pushOciIndex,
  type RunningRegistry,
  run,
  startRegistry,
} from '../support/registry.ts';

// The footprint a node reads before a pull, against the real peers: Debian's docker-registry (CNCF
// Distribution 2.8) behind htpasswd, images and multi-platform indexes pushed with skopeo, and skopeo's
// own reading of the manifests (and of which child a platform gets) as the expected answer.

const USER = 'node-puller';
const PASSWORD = 'footprint-password-1';

interface RawManifest {
  config: { size: number };
  layers: { digest: string; size: number }[];
}

const sha256 = (text: string) => `sha256:${createHash('sha256').update(text).digest('hex')}`;
const sizeOf = (manifest: RawManifest) =>
  manifest.config.size + manifest.layers.reduce((sum, layer) => sum + layer.size, 0);

describe('the image footprint on the Distribution registry', () => {
  let registry: RunningRegistry;
  let scratch: string;
  let authfile: string;

  before(async () => {
    registry = await startRegistry({ username: USER, password: PASSWORD });
    scratch = await mkdtemp(join(tmpdir(), 'pullwarden-footprint-'));
    authfile = join(scratch, 'auth.json');
    const auth = Buffer.from(`${USER}:${PASSWORD}`).toString('base64');
    await writeFile(authfile, JSON.stringify({ auths: { [registry.host]: { auth } } }), {
      mode: 0o600,
    });
  });
  after(async () => {
    await registry?.stop();
    if (scratch !== undefined) await rm(scratch, { recursive: true, force: true });
  });

  const skopeoInspect = async (args: string[], reference: string) =>
    (
      await run('skopeo', [
        'inspect',
        ...args,
        '--tls-verify=false',
        '--authfile',
        authfile,
        `docker://${registry.host}/${reference}`,
      ])
    ).stdout;
  /** The manifest skopeo reads at `repository@digest`, byte for byte. */
  const rawByDigest = async (repository: string, digest: string) =>
    skopeoInspect(['--raw'], `${repository}@${digest}`);
  const request = (
    repository: string,
    digest: string,
    extra: Partial<FootprintRequest> = {},
  ): FootprintRequest => ({
    registry: registry.host,
    repository,
    reference: { digest },
    platform: { os: 'linux', architecture: 'amd64' },
    credentials: { username: USER, password: PASSWORD },
    endpoint: registry.url,
    ...extra,
  });

  test('a single image: the config and layer sizes of the manifest skopeo reads back', async () => {
    const pushed = await pushOciImage({
      registryHost: registry.host,
      repository: 'team/single',
      tag: 'v1',
      username: USER,
      password: PASSWORD,
    });
    const raw = await inspectRawManifest({
      registryHost: registry.host,
      repository: 'team/single',
      tag: 'v1',
      username: USER,
      password: PASSWORD,
    });
    assert.equal(sha256(raw), pushed.digest);
    const manifest = JSON.parse(raw) as RawManifest;

    const footprint = await imageFootprint(request('team/single', pushed.digest));
    assert.deepEqual(footprint, {
      digest: pushed.digest,
      manifestDigest: pushed.digest,
      compressedBytes: sizeOf(manifest),
      layers: manifest.layers.length,
    });
    assert.ok(footprint.compressedBytes > 0);
    const byTag = await imageFootprint({
      ...request('team/single', pushed.digest),
      reference: { tag: 'v1' },
    });
    assert.deepEqual(byTag, footprint, 'a tag is pinned to the digest the registry serves for it');
  });

  test('a multi-platform index: the child skopeo picks for amd64 and for arm64, and its sizes', async () => {
    const pushed = await pushOciIndex({
      registryHost: registry.host,
      repository: 'team/multi',
      tag: 'v1',
      username: USER,
      password: PASSWORD,
      seed: 'footprint multi',
    });
    for (const [position, architecture] of [
      [0, 'amd64'],
      [1, 'arm64'],
    ] as const) {
      const child = pushed.manifests[position];
      assert.ok(child !== undefined);
      const manifest = JSON.parse(await rawByDigest('team/multi', child.digest)) as RawManifest;
      const picked = JSON.parse(
        await skopeoInspect(
          ['--override-os', 'linux', '--override-arch', architecture],
          'team/multi:v1',
        ),
      ) as { Layers: string[] };

      const footprint = await imageFootprint(
        request('team/multi', pushed.digest, {
          platform:
            architecture === 'arm64'
              ? { os: 'linux', architecture, variant: 'v8' }
              : { os: 'linux', architecture },
        }),
      );
      assert.equal(footprint.digest, pushed.digest);
      assert.equal(footprint.manifestDigest, child.digest);
      assert.deepEqual(footprint.platform, { os: 'linux', architecture });
      assert.equal(footprint.compressedBytes, sizeOf(manifest));
      assert.equal(footprint.layers, manifest.layers.length);
      assert.deepEqual(
        manifest.layers.map((layer) => layer.digest),
        picked.Layers,
        `skopeo picks the same ${architecture} child`,
      );
    }
  });

  test('32-bit arm: the best older variant, and no child for a platform the index lacks', async () => {
    const pushed = await pushOciIndex({
      registryHost: registry.host,
      repository: 'team/arm',
      tag: 'v1',
      username: USER,
      password: PASSWORD,
      platforms: [
        { os: 'linux', architecture: 'arm', variant: 'v5' },
        { os: 'linux', architecture: 'arm', variant: 'v6' },
        { os: 'linux', architecture: 'amd64' },
      ],
    });
    const armV7 = await imageFootprint(
      request('team/arm', pushed.digest, {
        platform: { os: 'linux', architecture: 'arm', variant: 'v7' },
      }),
    );
    assert.equal(armV7.manifestDigest, pushed.manifests[1]?.digest);
    assert.deepEqual(armV7.platform, { os: 'linux', architecture: 'arm', variant: 'v6' });

    const error = await imageFootprint(
      request('team/arm', pushed.digest, { platform: { os: 'linux', architecture: 'arm64' } }),
    ).catch((caught: unknown) => caught);
    assert.ok(error instanceof NoPlatformManifestError);
    assert.equal(error.reason, 'not-found');
    assert.match(
      error.message,
      /no manifest for linux\/arm64: the index offers linux\/arm\/v5, linux\/arm\/v6, linux\/amd64$/,
    );
  });

  test('what the registry refuses: a wrong password, no credentials, an unknown digest', async () => {
    const pushed = await pushOciImage({
      registryHost: registry.host,
      repository: 'team/guarded',
      tag: 'v1',
      username: USER,
      password: PASSWORD,
    });
    const failure = (lookup: Promise<unknown>) =>
      rejection(lookup, DigestResolutionError, 'the footprint was read');

    const wrong = await failure(
      imageFootprint(
        request('team/guarded', pushed.digest, {
          credentials: { username: USER, password: 'not-the-password' },
        }),
      ),
    );
    assert.equal(wrong.reason, 'authentication');
    assert.match(wrong.message, /refused access to .*team\/guarded@sha256:[0-9a-f]{64} \(HTTP 401/);
    assert.doesNotMatch(wrong.message, /not-the-password/);

    const { credentials: _, ...anonymous } = request('team/guarded', pushed.digest);
    const none = await failure(imageFootprint(anonymous));
    assert.equal(none.reason, 'authentication');
    assert.match(none.message, /requires credentials: the node has no username and password/);

    const unknown = await failure(imageFootprint(request('team/guarded', sha256('never pushed'))));
    assert.equal(unknown.reason, 'not-found');
    assert.match(
      unknown.message,
      /team\/guarded@sha256:[0-9a-f]{64} does not exist in the registry/,
    );

    const unknownRepository = await failure(imageFootprint(request('team/absent', pushed.digest)));
    assert.equal(unknownRepository.reason, 'not-found');
  });
});
