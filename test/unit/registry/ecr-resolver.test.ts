import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import { BatchGetImageCommand, ECRClient } from '@aws-sdk/client-ecr';
import {
  type DigestFailureReason,
  DigestResolutionError,
} from '#shared/registry/digest-resolver.ts';
import {
  type BatchGetImage,
  type BatchGetImageOutput,
  EcrDigestResolver,
} from '#shared/registry/ecr-resolver.ts';
import { rejection } from '../../support/async.ts';
import { type FakeEcr, startFakeEcr } from '../../support/fake-ecr.ts';
import {
  DOCKER_LIST,
  DOCKER_MANIFEST,
  digestOf,
  OCI_INDEX,
  OCI_MANIFEST,
} from '../../support/registry-stub.ts';

// EcrDigestResolver: BatchGetImage through the real SDK client against the loopback ECR, and the
// classification of every way ECR says no, through a port that answers what a test tells it to.

const ACCOUNT = '111122223333';
const HOST = `${ACCOUNT}.dkr.ecr.eu-west-1.amazonaws.com`;

const AMD64 = digestOf('amd64');
const ARM64 = digestOf('arm64');
const INDEX = JSON.stringify({
  schemaVersion: 2,
  mediaType: OCI_INDEX,
  manifests: [
    {
      mediaType: OCI_MANIFEST,
      digest: AMD64,
      size: 1,
      platform: { os: 'linux', architecture: 'amd64' },
    },
    {
      mediaType: OCI_MANIFEST,
      digest: ARM64,
      size: 1,
      platform: { os: 'linux', architecture: 'arm64', variant: 'v8' },
    },
  ],
});

function resolutionFailure(promise: Promise<unknown>): Promise<DigestResolutionError> {
  return rejection(promise, DigestResolutionError, 'the lookup succeeded');
}

describe('EcrDigestResolver with the SDK against the loopback ECR', () => {
  let fake: FakeEcr;
  const clients = new Map<string, ECRClient>();
  const regions: string[] = [];
  const resolver = new EcrDigestResolver((region) => {
    regions.push(region);
    let client = clients.get(region);
    if (client === undefined) {
      client = new ECRClient({
        region,
        endpoint: fake.endpoint,
        credentials: { accessKeyId: 'AKIDTEST', secretAccessKey: 'test-secret' },
        maxAttempts: 1,
      });
      clients.set(region, client);
    }
    const ecr = client;
    return (input) => ecr.send(new BatchGetImageCommand(input));
  });

  before(async () => {
    fake = await startFakeEcr();
  });
  after(async () => {
    for (const client of clients.values()) client.destroy();
    await fake.stop();
  });
  beforeEach(() => {
    fake.mode = 'ok';
    fake.images.clear();
    fake.batchGetImageCalls.length = 0;
    regions.length = 0;
  });

  test('an index tag: digest, media type and children from one BatchGetImage', async () => {
    fake.images.set(`${ACCOUNT}/team/api:v1`, {
      digest: digestOf(INDEX),
      mediaType: OCI_INDEX,
      manifest: INDEX,
    });
    assert.deepEqual(await resolver.resolve(HOST, 'team/api', 'v1'), {
      digest: digestOf(INDEX),
      mediaType: OCI_INDEX,
      manifests: [
        {
          digest: AMD64,
          mediaType: OCI_MANIFEST,
          platform: { os: 'linux', architecture: 'amd64' },
        },
        {
          digest: ARM64,
          mediaType: OCI_MANIFEST,
          platform: { os: 'linux', architecture: 'arm64', variant: 'v8' },
        },
      ],
    });
    assert.deepEqual(regions, ['eu-west-1']);
    assert.deepEqual(fake.batchGetImageCalls, [
      {
        registryId: ACCOUNT,
        repositoryName: 'team/api',
        imageIds: [{ imageTag: 'v1' }],
        acceptedMediaTypes: [OCI_INDEX, DOCKER_LIST, OCI_MANIFEST, DOCKER_MANIFEST],
      },
    ]);
  });

  test('a single-platform tag has no children', async () => {
    const manifest = JSON.stringify({ schemaVersion: 2, mediaType: DOCKER_MANIFEST });
    fake.images.set(`${ACCOUNT}/team/api:v2`, {
      digest: digestOf(manifest),
      mediaType: DOCKER_MANIFEST,
      manifest,
    });
    assert.deepEqual(await resolver.resolve(HOST, 'team/api', 'v2'), {
      digest: digestOf(manifest),
      mediaType: DOCKER_MANIFEST,
    });
  });

  test('ECR failures become reasons', async () => {
    fake.images.set(`${ACCOUNT}/team/api:v1`, {
      digest: digestOf(INDEX),
      mediaType: OCI_INDEX,
      manifest: INDEX,
    });
    const missingTag = await resolutionFailure(resolver.resolve(HOST, 'team/api', 'nope'));
    assert.equal(missingTag.reason, 'not-found');
    assert.equal(missingTag.message, `${HOST}/team/api:nope does not exist in the registry`);
    const missingRepository = await resolutionFailure(resolver.resolve(HOST, 'team/gone', 'v1'));
    assert.equal(missingRepository.reason, 'not-found');
    const modes: [FakeEcr['mode'], DigestFailureReason, RegExp][] = [
      [
        'deny',
        'authentication',
        /AccessDeniedException: not authorized to perform ecr:BatchGetImage/,
      ],
      ['throttle', 'rate-limited', /ThrottlingException/],
      ['error', 'registry', /ServerException/],
    ];
    for (const [mode, reason, message] of modes) {
      fake.mode = mode;
      const error = await resolutionFailure(resolver.resolve(HOST, 'team/api', 'v1'));
      assert.equal(error.reason, reason, mode);
      assert.match(error.message, message);
      assert.doesNotMatch(error.message, /test-secret|AKIDTEST/);
    }
  });

  test('an ECR API nobody listens on is a network failure', async () => {
    const unreachable = new ECRClient({
      region: 'eu-west-1',
      endpoint: 'http://127.0.0.1:1',
      credentials: { accessKeyId: 'AKIDTEST', secretAccessKey: 'test-secret' },
      maxAttempts: 1,
    });
    try {
      const error = await resolutionFailure(
        new EcrDigestResolver(
          () => (input) => unreachable.send(new BatchGetImageCommand(input)),
        ).resolve(HOST, 'team/api', 'v1'),
      );
      assert.equal(error.reason, 'network');
    } finally {
      unreachable.destroy();
    }
  });
});

describe('EcrDigestResolver classification', () => {
  const answering =
    (output: BatchGetImageOutput): BatchGetImage =>
    async () =>
      output;
  const throwing =
    (error: Error): BatchGetImage =>
    async () => {
      throw error;
    };
  const awsError = (name: string, status?: number) =>
    Object.assign(new Error(`${name} happened`), {
      name,
      ...(status === undefined ? {} : { $metadata: { httpStatusCode: status } }),
    });

  const vectors: [string, BatchGetImage, DigestFailureReason][] = [
    ['ImageNotFound', answering({ failures: [{ failureCode: 'ImageNotFound' }] }), 'not-found'],
    [
      'ImageTagDoesNotExist',
      answering({ failures: [{ failureCode: 'ImageTagDoesNotExist' }] }),
      'not-found',
    ],
    [
      'RepositoryNotFound',
      answering({ failures: [{ failureCode: 'RepositoryNotFound' }] }),
      'not-found',
    ],
    ['AccessDenied', answering({ failures: [{ failureCode: 'AccessDenied' }] }), 'authentication'],
    [
      'UpstreamAccessDenied',
      answering({ failures: [{ failureCode: 'UpstreamAccessDenied' }] }),
      'authentication',
    ],
    [
      'UpstreamTooManyRequests',
      answering({ failures: [{ failureCode: 'UpstreamTooManyRequests' }] }),
      'rate-limited',
    ],
    [
      'KmsError',
      answering({ failures: [{ failureCode: 'KmsError', failureReason: 'key disabled' }] }),
      'registry',
    ],
    [
      'a failure code named like an Object method',
      answering({ failures: [{ failureCode: 'constructor' }] }),
      'registry',
    ],
    ['neither images nor failures', answering({}), 'registry'],
    ['an image without a digest', answering({ images: [{ imageManifest: '{}' }] }), 'registry'],
    [
      'an index manifest that is not JSON',
      answering({
        images: [
          {
            imageId: { imageDigest: AMD64 },
            imageManifest: '{',
            imageManifestMediaType: OCI_INDEX,
          },
        ],
      }),
      'registry',
    ],
    [
      'RepositoryNotFoundException',
      throwing(awsError('RepositoryNotFoundException', 400)),
      'not-found',
    ],
    ['AccessDeniedException', throwing(awsError('AccessDeniedException', 400)), 'authentication'],
    ['ExpiredTokenException', throwing(awsError('ExpiredTokenException', 400)), 'authentication'],
    ['no credentials at all', throwing(awsError('CredentialsProviderError')), 'authentication'],
    ['ThrottlingException', throwing(awsError('ThrottlingException', 400)), 'rate-limited'],
    ['LimitExceededException', throwing(awsError('LimitExceededException', 400)), 'rate-limited'],
    ['an HTTP 429 without a known name', throwing(awsError('SomethingNew', 429)), 'rate-limited'],
    ['an HTTP 403 without a known name', throwing(awsError('SomethingNew', 403)), 'authentication'],
    ['ServerException', throwing(awsError('ServerException', 500)), 'registry'],
    ['a request timeout', throwing(awsError('TimeoutError')), 'network'],
    [
      'no HTTP answer at all',
      throwing(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' })),
      'network',
    ],
  ];
  for (const [name, port, reason] of vectors) {
    test(name, async () => {
      const error = await resolutionFailure(
        new EcrDigestResolver(() => port).resolve(HOST, 'team/api', 'v1'),
      );
      assert.equal(error.reason, reason);
    });
  }

  test('the media type comes from the manifest when ECR leaves it out', async () => {
    const resolver = new EcrDigestResolver(() =>
      answering({ images: [{ imageId: { imageDigest: digestOf(INDEX) }, imageManifest: INDEX }] }),
    );
    const resolved = await resolver.resolve(HOST, 'team/api', 'v1');
    assert.equal(resolved.mediaType, OCI_INDEX);
    assert.equal(resolved.manifests?.length, 2);
  });

  test('only private ECR hosts are resolved; the port is never asked for others', async () => {
    let asked = 0;
    const resolver = new EcrDigestResolver(() => {
      asked++;
      return answering({});
    });
    for (const host of ['public.ecr.aws', 'registry.example.com']) {
      const error = await resolutionFailure(resolver.resolve(host, 'team/api', 'v1'));
      assert.match(error.message, /is not a private ECR registry/);
    }
    assert.equal(asked, 0);
  });
});
