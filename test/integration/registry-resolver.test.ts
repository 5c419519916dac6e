import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { configSchema } from '#shared/config/schema.ts';
import { environmentSecretResolver } from '#shared/config/secret-ref.ts';
import { createRegistryResolver } from '#shared/registry/create-resolver.ts';
import { DigestResolutionError, HttpDigestResolver } from '#shared/registry/digest-resolver.ts';
import { sameBuild } from '#shared/registry/same-build.ts';
import { type FakeEcr, startFakeEcr } from '../support/fake-ecr.ts';
import {
  inspectRawManifest,
  pushOciIndex,
  type RunningRegistry,
  startRegistry,
} from '../support/registry.ts';

// Tag resolution against the real peers: Debian's docker-registry (CNCF Distribution 2.8) with htpasswd
// auth, a two-platform OCI image index pushed with `skopeo copy --all`, and what skopeo reads back.
// Then the Lambda wiring: ECR hosts through the SDK to the loopback ECR named by AWS_ENDPOINT_URL_ECR.

const USER = 'ci-bot';
const PASSWORD = 'resolver-password-1';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const secrets = environmentSecretResolver({ RR_REGISTRY_PASSWORD: PASSWORD });

const sha256 = (text: string) => `sha256:${createHash('sha256').update(text).digest('hex')}`;

describe('resolving a multi-platform tag on the Distribution registry', () => {
  let registry: RunningRegistry;
  const configFor = (cacheSeconds: number) =>
    configSchema.parse({
      apiVersion: 'pullwarden.dev/v1',
      kind: 'Config',
      registries: {
        cacheSeconds,
        endpoints: [
          {
            host: registry.host,
            url: registry.url,
            username: USER,
            password: { env: 'RR_REGISTRY_PASSWORD' },
          },
        ],
      },
    });
  const push = (repository: string, tag: string, seed: string) =>
    pushOciIndex({
      registryHost: registry.host,
      repository,
      tag,
      username: USER,
      password: PASSWORD,
      seed,
    });
  const inspect = (repository: string, tag: string) =>
    inspectRawManifest({
      registryHost: registry.host,
      repository,
      tag,
      username: USER,
      password: PASSWORD,
    });

  before(async () => {
    registry = await startRegistry({ username: USER, password: PASSWORD });
  });
  after(async () => {
    await registry?.stop();
  });

  test('the index digest skopeo reads back, and both platform manifests', async () => {
    const pushed = await push('team/multi', 'v1', 'first build');
    const raw = await inspect('team/multi', 'v1');
    const served = JSON.parse(raw) as {
      mediaType: string;
      manifests: { digest: string; platform: { os: string; architecture: string } }[];
    };

    const resolved = await new HttpDigestResolver(configFor(30), secrets, {
      readIndexChildren: true,
    }).resolve(registry.host, 'team/multi', 'v1');

    assert.equal(resolved.digest, pushed.digest);
    assert.equal(resolved.digest, sha256(raw), 'the digest of the bytes the registry serves');
    assert.equal(resolved.mediaType, OCI_INDEX);
    assert.equal(served.mediaType, OCI_INDEX);
    assert.deepEqual(resolved.manifests, [
      {
        digest: pushed.manifests[0]?.digest,
        mediaType: OCI_MANIFEST,
        platform: { os: 'linux', architecture: 'amd64' },
      },
      {
        digest: pushed.manifests[1]?.digest,
        mediaType: OCI_MANIFEST,
        platform: { os: 'linux', architecture: 'arm64' },
      },
    ]);
    assert.deepEqual(
      resolved.manifests?.map((child) => child.digest),
      served.manifests.map((child) => child.digest),
    );
    // A pod reporting either platform manifest, or the index, runs the served build.
    for (const running of [pushed.digest, ...pushed.manifests.map((child) => child.digest)]) {
      assert.equal(sameBuild(running, resolved), true);
    }
  });

  test('the push path keeps to one HEAD: the index digest without its children', async () => {
    const pushed = await push('team/push-path', 'v1', 'push path');
    const resolved = await new HttpDigestResolver(configFor(30), secrets).resolve(
      registry.host,
      'team/push-path',
      'v1',
    );
    assert.deepEqual(resolved, { digest: pushed.digest, mediaType: OCI_INDEX });
  });

  test('a re-pushed tag: the cached answer until cacheSeconds pass, then the new index', async () => {
    let now = Date.parse('2026-11-23T10:00:00Z');
    const resolver = createRegistryResolver(configFor(30), {
      secrets,
      ecr: () => {
        throw new Error('no ECR host is resolved here');
      },
      now: () => new Date(now),
    });
    const first = await push('team/moving', 'stable', 'build one');
    const before = await resolver.resolve(registry.host, 'team/moving', 'stable');
    assert.equal(before.digest, first.digest);

    const second = await push('team/moving', 'stable', 'build two');
    assert.notEqual(second.digest, first.digest);
    assert.equal(sha256(await inspect('team/moving', 'stable')), second.digest);

    now += 29_000;
    const cached = await resolver.resolve(registry.host, 'team/moving', 'stable');
    assert.deepEqual(cached, before);
    assert.equal(sameBuild(first.manifests[1]?.digest ?? '', cached), true);

    now += 1_000;
    const fresh = await resolver.resolve(registry.host, 'team/moving', 'stable');
    assert.equal(fresh.digest, second.digest);
    assert.deepEqual(
      fresh.manifests?.map((child) => child.digest),
      second.manifests.map((child) => child.digest),
    );
    assert.equal(sameBuild(first.manifests[0]?.digest ?? '', fresh), false);
  });

  test('what the registry refuses: an unknown repository, an unknown tag, a wrong password', async () => {
    await push('team/known', 'v1', 'known');
    const resolver = new HttpDigestResolver(configFor(30), secrets, { readIndexChildren: true });
    const reasons = async (lookup: Promise<unknown>) =>
      lookup.then(
        () => 'resolved',
        (error: unknown) => (error instanceof DigestResolutionError ? error.reason : String(error)),
      );
    assert.equal(await reasons(resolver.resolve(registry.host, 'team/unknown', 'v1')), 'not-found');
    assert.equal(await reasons(resolver.resolve(registry.host, 'team/known', 'v2')), 'not-found');
    const wrongPassword = new HttpDigestResolver(
      configFor(30),
      environmentSecretResolver({ RR_REGISTRY_PASSWORD: 'not-the-password' }),
    );
    assert.equal(
      await reasons(wrongPassword.resolve(registry.host, 'team/known', 'v1')),
      'authentication',
    );
  });
});

describe('the Lambda resolver for ECR hosts', () => {
  const ACCOUNT = '444455556666';
  const HOST = `${ACCOUNT}.dkr.ecr.us-west-2.amazonaws.com`;
  let ecr: FakeEcr;

  before(async () => {
    ecr = await startFakeEcr();
    // What the local stack sets: the SDK reads these itself.
    Object.assign(process.env, {
      AWS_ENDPOINT_URL_ECR: ecr.endpoint,
      AWS_ACCESS_KEY_ID: 'AKIDRESOLVER',
      AWS_SECRET_ACCESS_KEY: 'resolver-secret',
    });
  });
  after(async () => {
    await ecr.stop();
  });

  test('BatchGetImage through the SDK, once per tag while cached, per config object', async () => {
    const { registryResolver } = await import('#shared/aws/registry-resolver.ts');
    const index = JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_INDEX,
      manifests: [
        {
          mediaType: OCI_MANIFEST,
          digest: sha256('amd64'),
          size: 1,
          platform: { os: 'linux', architecture: 'amd64' },
        },
      ],
    });
    ecr.images.set(`${ACCOUNT}/team/api:v1`, {
      digest: sha256(index),
      mediaType: OCI_INDEX,
      manifest: index,
    });
    const config = configSchema.parse({ apiVersion: 'pullwarden.dev/v1', kind: 'Config' });
    const resolver = registryResolver(config);
    assert.equal(registryResolver(config), resolver, 'one resolver per configuration object');

    const resolved = await resolver.resolve(HOST, 'team/api', 'v1');
    assert.deepEqual(resolved, {
      digest: sha256(index),
      mediaType: OCI_INDEX,
      manifests: [
        {
          digest: sha256('amd64'),
          mediaType: OCI_MANIFEST,
          platform: { os: 'linux', architecture: 'amd64' },
        },
      ],
    });
    await resolver.resolve(HOST, 'team/api', 'v1');
    assert.equal(ecr.batchGetImageCalls.length, 1, 'the second lookup came from the cache');
    assert.equal(ecr.batchGetImageCalls[0]?.registryId, ACCOUNT);
    assert.match(
      ecr.calls[0]?.authorization ?? '',
      /Credential=AKIDRESOLVER\/\d+\/us-west-2\/ecr\//,
    );

    const missing = await resolver.resolve(HOST, 'team/api', 'v9').catch((error: unknown) => error);
    assert.ok(missing instanceof DigestResolutionError);
    assert.equal(missing.reason, 'not-found');
  });
});
