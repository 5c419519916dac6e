import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  classifyPullFailure,
  containerOfFieldPath,
  DETAIL_MAX_LENGTH,
  imageInMessage,
  PULL_FAILURE_CAUSES,
  type PullEvent,
  type PulledMessage,
  type PullFailureCause,
  parsePulledMessage,
  pullEventKind,
  redactCredentials,
} from '#shared/cluster/pull-messages.ts';
import type { ImageSiteKind } from '#shared/drift/model.ts';
import { formatGoDuration } from '#shared/kubelet/go-duration.ts';

interface FailureVector {
  name: string;
  runtime: string;
  registry: string;
  message: string;
  cause: PullFailureCause;
  detail: string;
}

const FAILURE_VECTORS: FailureVector[] = JSON.parse(
  readFileSync(
    new URL('../../fixtures/kubelet-events/pull-failures.json', import.meta.url),
    'utf8',
  ),
);

const DIGEST = 'sha256:5a2b7e6a0d0c7f1a3f4a27cb0f8e2f1f8d9d6f8f2c1e5b8a7d6c5b4a3f2e1d0c';

// strconv.Quote for the characters these tests produce: quotes and backslashes escaped, C0 controls and
// DEL as \xNN, everything else as is.
function goQuote(text: string): string {
  let out = '"';
  for (const c of text) {
    const code = c.codePointAt(0) as number;
    if (c === '"' || c === '\\') out += `\\${c}`;
    else if (code < 0x20 || code === 0x7f) out += `\\x${code.toString(16).padStart(2, '0')}`;
    else out += c;
  }
  return `${out}"`;
}

function roundedMillis(nanos: bigint): number {
  return Number((nanos + 500_000n) / 1_000_000n);
}

describe('parsePulledMessage', () => {
  const VALID: [string, string, PulledMessage][] = [
    [
      'kubelet 1.30+: pull, wait and size',
      'Successfully pulled image "nginx:1.25" in 3.2s (3.5s including waiting). Image size: 70000000 bytes.',
      { kind: 'pulled', image: 'nginx:1.25', pullMs: 3200, totalMs: 3500, sizeBytes: 70000000 },
    ],
    [
      'kubelet 1.30+: large image, minutes',
      'Successfully pulled image "g1g1/py-kube" in 1m2.5s (1m3s including waiting). Image size: 5378192452 bytes.',
      {
        kind: 'pulled',
        image: 'g1g1/py-kube',
        pullMs: 62500,
        totalMs: 63000,
        sizeBytes: 5378192452,
      },
    ],
    [
      'kubelet 1.30+: runtime reports no size',
      `Successfully pulled image "nginx@${DIGEST}" in 769ms (769ms including waiting). Image size: 0 bytes.`,
      { kind: 'pulled', image: `nginx@${DIGEST}`, pullMs: 769, totalMs: 769, sizeBytes: 0 },
    ],
    [
      'kubelet 1.28: wait but no size, durations not yet truncated to milliseconds',
      'Successfully pulled image "registry.example/app:1" in 80.266807ms (80.271526ms including waiting)',
      { kind: 'pulled', image: 'registry.example/app:1', pullMs: 80, totalMs: 80 },
    ],
    [
      'kubelet 1.28-1.29: wait but no size, truncated to milliseconds',
      'Successfully pulled image "pokemon/squirtle:latest" in 1.263s (1.263s including waiting)',
      { kind: 'pulled', image: 'pokemon/squirtle:latest', pullMs: 1263, totalMs: 1263 },
    ],
    [
      'kubelet 1.19-1.27: duration only, nanosecond precision rounds to the millisecond',
      'Successfully pulled image "nginx:1.25" in 1.234567891s',
      { kind: 'pulled', image: 'nginx:1.25', pullMs: 1235 },
    ],
    [
      'sub-millisecond pull rounds to 0',
      'Successfully pulled image "nginx:1.25" in 1.5\u00b5s',
      { kind: 'pulled', image: 'nginx:1.25', pullMs: 0 },
    ],
    [
      'half a millisecond rounds up',
      'Successfully pulled image "nginx:1.25" in 2.5ms',
      { kind: 'pulled', image: 'nginx:1.25', pullMs: 3 },
    ],
    [
      'hours',
      'Successfully pulled image "nginx:1.25" in 1h0m0.001s (1h0m1s including waiting)',
      { kind: 'pulled', image: 'nginx:1.25', pullMs: 3_600_001, totalMs: 3_601_000 },
    ],
    [
      'event correlator prefix',
      '(combined from similar events): Successfully pulled image "quay.io/gitops-cookbook/music:1.0.0" in 715ms (715ms including waiting). Image size: 94836428 bytes.',
      {
        kind: 'pulled',
        image: 'quay.io/gitops-cookbook/music:1.0.0',
        pullMs: 715,
        totalMs: 715,
        sizeBytes: 94836428,
      },
    ],
    [
      'Go escapes in the image',
      'Successfully pulled image "we\\"ird\\\\name\\x01\\u00e9" in 1s',
      { kind: 'pulled', image: 'we"ird\\name\x01\u00e9', pullMs: 1000 },
    ],
    [
      'cache hit',
      'Container image "busybox:1.36" already present on machine',
      { kind: 'present', image: 'busybox:1.36' },
    ],
    [
      'cache hit, kubelet 1.33+ with credentials verified',
      'Container image "busybox:1.36" already present on machine and can be accessed by the pod',
      { kind: 'present', image: 'busybox:1.36' },
    ],
    [
      'field path printed before the message',
      'spec.containers{web}: Container image "nginx:1.28.0-alpine" already present on machine and can be accessed by the pod',
      { kind: 'present', image: 'nginx:1.28.0-alpine' },
    ],
  ];
  for (const [name, message, expected] of VALID) {
    it(`reads ${name}`, () => assert.deepEqual(parsePulledMessage(message), expected));
  }

  const INVALID: [string, string][] = [
    ['kubelet before 1.19: no duration', 'Successfully pulled image "nginx:1.25"'],
    ['a Pulling message', 'Pulling image "nginx:1.25"'],
    ['never-pull message', 'Container image "nginx" is not present with pull policy of Never'],
    ['empty', ''],
    ['empty image', 'Successfully pulled image "" in 1s'],
    ['unquoted image', 'Successfully pulled image nginx:1.25 in 1s'],
    ['unterminated quote', 'Successfully pulled image "nginx:1.25 in 1s'],
    ['bad escape', 'Successfully pulled image "ngi\\qnx" in 1s'],
    ['escape of a surrogate', 'Successfully pulled image "\\ud800" in 1s'],
    ['negative duration', 'Successfully pulled image "nginx" in -1s'],
    ['unknown unit', 'Successfully pulled image "nginx" in 3.2x'],
    ['missing unit', 'Successfully pulled image "nginx" in 3.2'],
    ['trailing text', 'Successfully pulled image "nginx" in 3.2s, thanks'],
    ['unclosed wait', 'Successfully pulled image "nginx" in 3.2s (3.5s including waiting'],
    [
      'size without the closing period',
      'Successfully pulled image "nginx" in 3.2s (3.5s including waiting). Image size: 7 bytes',
    ],
    [
      'size that is not a number',
      'Successfully pulled image "nginx" in 3.2s (3.5s including waiting). Image size: 7MB bytes.',
    ],
    [
      'size beyond 2^53',
      'Successfully pulled image "nginx" in 3.2s (3.5s including waiting). Image size: 99999999999999999 bytes.',
    ],
    ['size without the wait', 'Successfully pulled image "nginx" in 3.2s. Image size: 7 bytes.'],
    [
      'cache hit with trailing text',
      'Container image "busybox" already present on machine, probably',
    ],
    ['lower-case variant', 'successfully pulled image "nginx" in 1s'],
  ];
  for (const [name, message] of INVALID) {
    it(`rejects ${name}`, () => assert.equal(parsePulledMessage(message), undefined));
  }

  const image = fc.string({ unit: 'binary', minLength: 1, maxLength: 40 });
  const nanos = fc.bigInt({ min: 0n, max: 10n ** 15n });
  const size = fc.nat({ max: Number.MAX_SAFE_INTEGER });
  const truncatedToMillis = (value: bigint) => value - (value % 1_000_000n);

  it('round-trips the duration-only form', () => {
    fc.assert(
      fc.property(image, nanos, (name, pull) => {
        const message = `Successfully pulled image ${goQuote(name)} in ${formatGoDuration(pull)}`;
        assert.deepEqual(parsePulledMessage(message), {
          kind: 'pulled',
          image: name,
          pullMs: roundedMillis(pull),
        });
      }),
    );
  });

  it('round-trips the form with the wait', () => {
    fc.assert(
      fc.property(image, nanos, nanos, (name, pull, total) => {
        const message = `Successfully pulled image ${goQuote(name)} in ${formatGoDuration(pull)} (${formatGoDuration(total)} including waiting)`;
        assert.deepEqual(parsePulledMessage(message), {
          kind: 'pulled',
          image: name,
          pullMs: roundedMillis(pull),
          totalMs: roundedMillis(total),
        });
      }),
    );
  });

  it('round-trips the form with the wait and the size, durations truncated as the kubelet does', () => {
    fc.assert(
      fc.property(image, nanos, nanos, size, fc.boolean(), (name, pull, total, bytes, combined) => {
        const pullText = formatGoDuration(truncatedToMillis(pull));
        const totalText = formatGoDuration(truncatedToMillis(total));
        const prefix = combined ? '(combined from similar events): ' : '';
        const message = `${prefix}Successfully pulled image ${goQuote(name)} in ${pullText} (${totalText} including waiting). Image size: ${bytes} bytes.`;
        assert.deepEqual(parsePulledMessage(message), {
          kind: 'pulled',
          image: name,
          pullMs: Number(pull / 1_000_000n),
          totalMs: Number(total / 1_000_000n),
          sizeBytes: bytes,
        });
      }),
    );
  });

  it('round-trips both cache-hit forms', () => {
    fc.assert(
      fc.property(image, fc.boolean(), (name, accessible) => {
        const tail = accessible ? ' and can be accessed by the pod' : '';
        const message = `Container image ${goQuote(name)} already present on machine${tail}`;
        assert.deepEqual(parsePulledMessage(message), { kind: 'present', image: name });
      }),
    );
  });
});

describe('classifyPullFailure', () => {
  describe('runtime and registry messages', () => {
    for (const vector of FAILURE_VECTORS) {
      it(`${vector.registry}, ${vector.runtime}: ${vector.name}`, () => {
        assert.deepEqual(classifyPullFailure(vector.message), {
          cause: vector.cause,
          detail: vector.detail,
        });
      });
    }

    it('covers every cause but unknown and every registry', () => {
      const causes = new Set(FAILURE_VECTORS.map((vector) => vector.cause));
      assert.deepEqual(
        [...causes].sort(),
        PULL_FAILURE_CAUSES.filter((cause) => cause !== 'unknown').sort(),
      );
      const registries = new Set(FAILURE_VECTORS.map((vector) => vector.registry));
      for (const registry of [
        'Docker Hub',
        'ECR',
        'GHCR',
        'GCR',
        'Artifact Registry',
        'Quay',
        'Harbor',
        'Distribution',
      ]) {
        assert.ok(registries.has(registry), registry);
      }
    });
  });

  describe('the same runtime error in every kubelet wrapper', () => {
    const runtimeError =
      'failed to pull and unpack image "ghcr.io/acme/worker:v5": failed to resolve reference "ghcr.io/acme/worker:v5": failed to authorize: failed to fetch anonymous token: unexpected status from GET request to https://ghcr.io/token?scope=repository%3Aacme%2Fworker%3Apull&service=ghcr.io: 401 Unauthorized';
    const expected = {
      cause: 'authentication',
      detail: 'unexpected status from GET request to https://ghcr.io/token: 401 Unauthorized',
    };
    const WRAPPERS: [string, string][] = [
      ['Failed event', `Failed to pull image "ghcr.io/acme/worker:v5": ${runtimeError}`],
      ['ErrImagePull waiting message', runtimeError],
      [
        'ErrImagePull waiting message with gRPC status',
        `rpc error: code = Unknown desc = ${runtimeError}`,
      ],
      [
        'ImagePullBackOff waiting message, kubelet 1.32+',
        `Back-off pulling image "ghcr.io/acme/worker:v5": ErrImagePull: ${runtimeError}`,
      ],
      [
        'combined Failed event',
        `(combined from similar events): Failed to pull image "ghcr.io/acme/worker:v5": ${runtimeError}`,
      ],
      [
        'Failed event printed with its field path',
        `spec.initContainers{fetch}: Failed to pull image "ghcr.io/acme/worker:v5": ${runtimeError}`,
      ],
    ];
    for (const [name, message] of WRAPPERS) {
      it(name, () => assert.deepEqual(classifyPullFailure(message), expected));
    }
  });

  describe('precedence between signals', () => {
    const PRECEDENCE: [string, string, PullFailureCause, string][] = [
      [
        '401 inside a failed-to-resolve wrapper beats the wrapper',
        'failed to resolve reference "harbor.corp.example/a/b:1": unexpected status from HEAD request to https://harbor.corp.example/v2/a/b/manifests/1: 401 Unauthorized',
        'authentication',
        'unexpected status from HEAD request to https://harbor.corp.example/v2/a/b/manifests/1: 401 Unauthorized',
      ],
      [
        'authorization answer beats "does not exist"',
        'pull access denied, repository does not exist or may require authorization: server message: insufficient_scope: authorization failed',
        'authentication',
        'pull access denied, repository does not exist or may require authorization: server message: insufficient_scope: authorization failed',
      ],
      [
        'rate limit beats the "authenticating" it recommends',
        'toomanyrequests: You have reached your pull rate limit. You may increase the limit by authenticating and upgrading',
        'rate-limited',
        'toomanyrequests: You have reached your pull rate limit. You may increase the limit by authenticating and upgrading',
      ],
      [
        'rate limit beats 403',
        'unexpected status code [manifests latest]: 403 Forbidden; toomanyrequests: retry later',
        'rate-limited',
        'toomanyrequests: retry later',
      ],
      [
        'a registry answer beats a transport error met on the way (mirror first, then upstream)',
        'failed to do request: Head "https://mirror.internal/v2/library/nginx/manifests/1": dial tcp 10.0.0.9:443: i/o timeout; docker.io/library/nginx:1: not found',
        'not-found',
        'docker.io/library/nginx:1: not found',
      ],
      [
        '401 beats 404',
        'unexpected status from GET request to https://r.example/v2/a/manifests/1: 404 Not Found; unexpected status from GET request to https://r.example/token: 401 Unauthorized',
        'authentication',
        'unexpected status from GET request to https://r.example/token: 401 Unauthorized',
      ],
      [
        'a transport error inside "failed to authorize" is network, not authentication',
        'failed to authorize: failed to fetch oauth token: Post "https://auth.docker.io/token": dial tcp: lookup auth.docker.io: no such host',
        'network',
        'Post "https://auth.docker.io/token": dial tcp: lookup auth.docker.io: no such host',
      ],
      [
        'the runtime socket failing beats "connection refused"',
        'rpc error: code = Unavailable desc = connection error: desc = "transport: Error while dialing: dial unix /run/containerd/containerd.sock: connect: connection refused"',
        'unknown',
        'dial unix /run/containerd/containerd.sock: connect: connection refused"',
      ],
      [
        'a local "permission denied" is not authentication',
        `failed to pull and unpack image "docker.io/library/nginx:1": failed to extract layer ${DIGEST}: mkdir /var/lib/containerd/io.containerd.snapshotter.v1.overlayfs/snapshots/41/fs: permission denied: unknown`,
        'unknown',
        'failed to extract layer sha256:5a2b7e6a0d0c\u2026: mkdir /var/lib/containerd/io.containerd.snapshotter.v1.overlayfs/snapshots/41/fs: permission denied: unknown',
      ],
      [
        'text signals beat the gRPC code',
        'rpc error: code = NotFound desc = failed to resolve reference "r.example/a:1": unexpected status from HEAD request to https://r.example/v2/a/manifests/1: 403 Forbidden',
        'authentication',
        'unexpected status from HEAD request to https://r.example/v2/a/manifests/1: 403 Forbidden',
      ],
      [
        'the gRPC code speaks when the text does not',
        'rpc error: code = NotFound desc = image "r.example/a:1" unknown',
        'not-found',
        'image "r.example/a:1" unknown',
      ],
      [
        'the kubelet error name speaks when the text does not',
        'Back-off pulling image "r.example/a:1": RegistryUnavailable: image pull failed for r.example/a:1',
        'network',
        'image pull failed for r.example/a:1',
      ],
      [
        'signature validation is not a registry failure',
        'Back-off pulling image "r.example/a:1": SignatureValidationFailed: image pull failed for r.example/a:1 because the signature validation failed: no matching signature',
        'unknown',
        'image pull failed for r.example/a:1 because the signature validation failed: no matching signature',
      ],
      [
        'disk full',
        'failed to pull and unpack image "docker.io/library/nginx:1": failed to copy: write /var/lib/containerd/io.containerd.content.v1.content/ingest/x/data: no space left on device',
        'unknown',
        'write /var/lib/containerd/io.containerd.content.v1.content/ingest/x/data: no space left on device',
      ],
    ];
    for (const [name, message, cause, detail] of PRECEDENCE) {
      it(name, () => assert.deepEqual(classifyPullFailure(message), { cause, detail }));
    }
  });

  describe('messages without a cause', () => {
    const NO_CAUSE: [string, string][] = [
      ['BackOff event', 'Back-off pulling image "nginx:1.25"'],
      ['ImagePullBackOff waiting message before 1.32', 'Back-off pulling image "nginx:1.25"'],
      ['restated failure', 'Error: ErrImagePull'],
      ['restated back-off', 'Error: ImagePullBackOff'],
      ['empty', ''],
    ];
    for (const [name, message] of NO_CAUSE) {
      it(name, () =>
        assert.deepEqual(classifyPullFailure(message), { cause: 'unknown', detail: '' }),
      );
    }
  });

  describe('detail', () => {
    it('is cut to 200 characters with an ellipsis', () => {
      const { cause, detail } = classifyPullFailure(`unauthorized: ${'x'.repeat(500)}`);
      assert.equal(cause, 'authentication');
      assert.equal(detail.length, DETAIL_MAX_LENGTH);
      assert.ok(detail.endsWith('\u2026'));
      assert.ok(detail.startsWith('unauthorized: xxx'));
    });

    it('does not cut a surrogate pair in half', () => {
      const { detail } = classifyPullFailure(
        `not found: ${'y'.repeat(184)}${'\u{1F600}'.repeat(20)}`,
      );
      assert.equal(detail.length <= DETAIL_MAX_LENGTH, true);
      assert.doesNotMatch(detail, /[\ud800-\udbff](?![\udc00-\udfff])/);
    });

    it('abbreviates digests', () => {
      const { detail } = classifyPullFailure(`failed to copy: content at ${DIGEST} not found`);
      assert.equal(detail, 'content at sha256:5a2b7e6a0d0c\u2026 not found');
    });
  });

  describe('credentials never reach the detail', () => {
    const SECRETS: [string, string, string][] = [
      [
        'Bearer token in a header dump',
        'unexpected status 401 Unauthorized; request header Authorization: Bearer eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJyb2JvdCJ9.c2lnbmF0dXJl',
        'eyJhbGciOiJSUzI1NiJ9',
      ],
      [
        'Basic credentials',
        'unauthorized: authentication required (Authorization: Basic cm9ib3Q6aHVudGVyMg==)',
        'cm9ib3Q6aHVudGVyMg',
      ],
      [
        'user and password in the registry URL',
        'failed to do request: Head "https://robot$ci:s3cr3t-pa55@harbor.corp.example/v2/platform/api/manifests/3.1": dial tcp: lookup harbor.corp.example: no such host',
        's3cr3t-pa55',
      ],
      [
        'presigned layer URL',
        'failed to copy: httpReadSeeker: failed open: failed to do request: Get "https://layers.s3.amazonaws.com/x?X-Amz-Security-Token=FwoGZXIvYXdzEJr&X-Amz-Signature=abc123": i/o timeout',
        'FwoGZXIvYXdzEJr',
      ],
      [
        'password assignment',
        'login failed: username=robot password=hunter22 unauthorized',
        'hunter22',
      ],
      ['Bearer token with punctuation', 'unauthorized: Bearer abc:def/ghi%3D=', 'def/ghi'],
      [
        'auth field of a docker config',
        'bad config {"auths":{"r":{"auth":"cm9ib3Q6aHVudGVy"}}} denied: no',
        'cm9ib3Q6aHVudGVy',
      ],
    ];
    for (const [name, message, secret] of SECRETS) {
      it(name, () => {
        assert.ok(!classifyPullFailure(message).detail.includes(secret));
        assert.ok(!redactCredentials(message).includes(secret));
      });
    }

    it('keeps the words of "no basic auth credentials" and proxy realms', () => {
      assert.equal(
        redactCredentials('Get https://r.example/v2/: no basic auth credentials'),
        'Get https://r.example/v2/: no basic auth credentials',
      );
      assert.equal(
        redactCredentials('Www-Authenticate: Bearer realm="https://auth.docker.io/token"'),
        'Www-Authenticate: Bearer realm="https://auth.docker.io/token"',
      );
    });

    it('keeps CRI-O digest references, which are not userinfo', () => {
      assert.equal(
        redactCredentials(`initializing source docker://nginx@${DIGEST}: reading manifest`),
        `initializing source docker://nginx@${DIGEST}: reading manifest`,
      );
    });
  });
});

describe('imageInMessage', () => {
  const IMAGES: [string, string | undefined][] = [
    ['Pulling image "nginx:1.25"', 'nginx:1.25'],
    ['pulling image "nginx"', 'nginx'],
    ['Successfully pulled image "nginx:1.25" in 3.2s (3.5s including waiting)', 'nginx:1.25'],
    ['Container image "busybox:1.36" already present on machine', 'busybox:1.36'],
    ['Container image "local/tool:dev" is not present with pull policy of Never', 'local/tool:dev'],
    ['Failed to pull image "ghcr.io/acme/worker:v5": denied', 'ghcr.io/acme/worker:v5'],
    ['Back-off pulling image "quay.io/acme/app@sha256:abc"', 'quay.io/acme/app@sha256:abc'],
    [
      'Back-off pulling image "quay.io/acme/app:1": ErrImagePull: manifest unknown',
      'quay.io/acme/app:1',
    ],
    ['Failed to inspect image "nginx": rpc error: code = Unknown desc = boom', 'nginx'],
    [
      'Failed to apply default image tag "Nginx:Latest": couldn\'t parse image name "Nginx:Latest": invalid reference format: repository name must be lowercase',
      'Nginx:Latest',
    ],
    [
      'image pull failed for registry.internal:5000/team/app:2 because the registry is unavailable',
      'registry.internal:5000/team/app:2',
    ],
    ['(combined from similar events): Failed to pull image "redis:7": toomanyrequests', 'redis:7'],
    ['spec.ephemeralContainers{debugger}: Pulling image "busybox"', 'busybox'],
    ['Pulling image "a\\"b"', 'a"b'],
    // kubelet 1.31+ prints the empty imageRef when GetImageRef fails
    ['Failed to inspect image "": rpc error: code = Unavailable desc = runtime down', undefined],
    ['Error: ErrImagePull', undefined],
    ['Back-off restarting failed container app in pod web_default(1234)', undefined],
    ['Started container app', undefined],
    ['Pulling image nginx', undefined],
    ['', undefined],
  ];
  for (const [message, image] of IMAGES) {
    it(`${JSON.stringify(message)} names ${String(image)}`, () =>
      assert.equal(imageInMessage(message), image));
  }
});

describe('pullEventKind', () => {
  const HUB_AUTH =
    'Failed to pull image "ngimx": failed to pull and unpack image "docker.io/library/ngimx:latest": failed to resolve reference "docker.io/library/ngimx:latest": pull access denied, repository does not exist or may require authorization: server message: insufficient_scope: authorization failed';
  const HUB_AUTH_DETAIL =
    'pull access denied, repository does not exist or may require authorization: server message: insufficient_scope: authorization failed';
  const EVENTS: [string, string, string, PullEvent][] = [
    ['Pulling', 'Pulling', 'Pulling image "nginx:1.25"', { kind: 'pulling', image: 'nginx:1.25' }],
    [
      'Pulling, old wording',
      'Pulling',
      'pulling image "nginx"',
      { kind: 'pulling', image: 'nginx' },
    ],
    [
      'Pulled after a pull',
      'Pulled',
      'Successfully pulled image "nginx:1.25" in 3.2s (3.5s including waiting). Image size: 70000000 bytes.',
      { kind: 'pulled', image: 'nginx:1.25', pullMs: 3200, totalMs: 3500, sizeBytes: 70000000 },
    ],
    [
      'Pulled from the cache',
      'Pulled',
      'Container image "nginx:1.25" already present on machine',
      { kind: 'present', image: 'nginx:1.25' },
    ],
    [
      'Failed pull',
      'Failed',
      HUB_AUTH,
      { kind: 'failed', image: 'ngimx', cause: 'authentication', detail: HUB_AUTH_DETAIL },
    ],
    [
      'restated ErrImagePull',
      'Failed',
      'Error: ErrImagePull',
      { kind: 'failed', image: undefined, cause: 'unknown', detail: '', restated: true },
    ],
    [
      'restated RegistryUnavailable',
      'Failed',
      'Error: RegistryUnavailable',
      { kind: 'failed', image: undefined, cause: 'network', detail: '', restated: true },
    ],
    [
      'restated ImagePullBackOff',
      'Failed',
      'Error: ImagePullBackOff',
      { kind: 'backoff', image: undefined, restated: true },
    ],
    [
      'restated ErrImageNeverPull',
      'Failed',
      'Error: ErrImageNeverPull',
      { kind: 'never-pull', image: undefined, restated: true },
    ],
    [
      'restated InvalidImageName',
      'Failed',
      'Error: InvalidImageName',
      { kind: 'invalid-name', image: undefined, detail: '', restated: true },
    ],
    [
      'container creation failure shares the Failed reason',
      'Failed',
      'Error: failed to create containerd task: OCI runtime create failed',
      { kind: 'other' },
    ],
    ['container config error', 'Failed', 'Error: CreateContainerConfigError', { kind: 'other' }],
    [
      'BackOff event',
      'BackOff',
      'Back-off pulling image "nginx:1.25"',
      { kind: 'backoff', image: 'nginx:1.25' },
    ],
    [
      'crash-loop back-off shares the BackOff reason',
      'BackOff',
      'Back-off restarting failed container app in pod web_default(1234)',
      { kind: 'other' },
    ],
    [
      'never-pull event',
      'ErrImageNeverPull',
      'Container image "local/tool:dev" is not present with pull policy of Never',
      { kind: 'never-pull', image: 'local/tool:dev' },
    ],
    [
      'invalid name',
      'InspectFailed',
      'Failed to apply default image tag "Nginx:Latest": couldn\'t parse image name "Nginx:Latest": invalid reference format: repository name must be lowercase',
      {
        kind: 'invalid-name',
        image: 'Nginx:Latest',
        detail:
          'couldn\'t parse image name "Nginx:Latest": invalid reference format: repository name must be lowercase',
      },
    ],
    [
      'inspect failure',
      'InspectFailed',
      'Failed to inspect image "nginx": rpc error: code = DeadlineExceeded desc = context deadline exceeded',
      { kind: 'failed', image: 'nginx', cause: 'network', detail: 'context deadline exceeded' },
    ],
    [
      'waiting ErrImagePull',
      'ErrImagePull',
      HUB_AUTH.slice('Failed to pull image "ngimx": '.length),
      { kind: 'failed', image: undefined, cause: 'authentication', detail: HUB_AUTH_DETAIL },
    ],
    [
      'waiting RegistryUnavailable',
      'RegistryUnavailable',
      'image pull failed for r.example/a:1 because the registry is unavailable',
      {
        kind: 'failed',
        image: 'r.example/a:1',
        cause: 'network',
        detail: 'image pull failed for r.example/a:1 because the registry is unavailable',
      },
    ],
    [
      'waiting ImagePullBackOff before 1.32',
      'ImagePullBackOff',
      'Back-off pulling image "nginx:1.25"',
      { kind: 'backoff', image: 'nginx:1.25' },
    ],
    [
      'waiting ImagePullBackOff, 1.32+',
      'ImagePullBackOff',
      `Back-off pulling image "ngimx": ErrImagePull: ${HUB_AUTH.slice('Failed to pull image "ngimx": '.length)}`,
      { kind: 'backoff', image: 'ngimx', cause: 'authentication', detail: HUB_AUTH_DETAIL },
    ],
    [
      'waiting ErrImageNeverPull',
      'ErrImageNeverPull',
      'Container image "local/tool:dev" is not present with pull policy of Never',
      { kind: 'never-pull', image: 'local/tool:dev' },
    ],
    [
      'waiting InvalidImageName',
      'InvalidImageName',
      'Failed to apply default image tag "UPPER/app": couldn\'t parse image name "UPPER/app": invalid reference format: repository name must be lowercase',
      {
        kind: 'invalid-name',
        image: 'UPPER/app',
        detail:
          'couldn\'t parse image name "UPPER/app": invalid reference format: repository name must be lowercase',
      },
    ],
    [
      'Pulled without a duration (before 1.19)',
      'Pulled',
      'Successfully pulled image "nginx"',
      { kind: 'other' },
    ],
    ['Pulling with another message', 'Pulling', 'Pulling the thread', { kind: 'other' }],
    [
      'unrelated reason',
      'Scheduled',
      'Successfully assigned default/web to node-1',
      { kind: 'other' },
    ],
    [
      'reason is case-sensitive',
      'pulled',
      'Container image "nginx" already present on machine',
      { kind: 'other' },
    ],
    ['prototype key as reason', '__proto__', 'Pulling image "nginx"', { kind: 'other' }],
  ];
  for (const [name, reason, message, expected] of EVENTS) {
    it(name, () => assert.deepEqual(pullEventKind(reason, message), expected));
  }
});

describe('containerOfFieldPath', () => {
  const PATHS: [string, { kind: ImageSiteKind; name: string } | undefined][] = [
    ['spec.containers{app}', { kind: 'container', name: 'app' }],
    ['spec.initContainers{fetch-config}', { kind: 'initContainer', name: 'fetch-config' }],
    [
      'spec.ephemeralContainers{debugger-x7k2p}',
      { kind: 'ephemeralContainer', name: 'debugger-x7k2p' },
    ],
    [`spec.containers{${'a'.repeat(63)}}`, { kind: 'container', name: 'a'.repeat(63) }],
    ['spec.containers{9}', { kind: 'container', name: '9' }],
    // nameless containers and containers outside the spec
    ['spec.containers[0]', undefined],
    ['implicitly required container POD', undefined],
    [`spec.containers{${'a'.repeat(64)}}`, undefined],
    ['spec.containers{App}', undefined],
    ['spec.containers{-app}', undefined],
    ['spec.containers{app-}', undefined],
    ['spec.containers{}', undefined],
    ['spec.containers{app', undefined],
    ['spec.containers{app}x', undefined],
    ['spec.sidecars{app}', undefined],
    ['spec.volumes{data}', undefined],
    ['', undefined],
  ];
  for (const [fieldPath, expected] of PATHS) {
    it(`${JSON.stringify(fieldPath)}`, () =>
      assert.deepEqual(containerOfFieldPath(fieldPath), expected));
  }
});

describe('properties', () => {
  const FRAGMENTS = [
    'Failed to pull image "',
    'Back-off pulling image "',
    'Successfully pulled image "',
    'Container image "',
    '" in ',
    '3.2s',
    ' (',
    ' including waiting)',
    '. Image size: ',
    ' bytes.',
    '": ',
    ': ',
    'rpc error: code = NotFound desc = ',
    'Error response from daemon: ',
    'ErrImagePull: ',
    'Error: ',
    'RegistryUnavailable',
    '(combined from similar events): ',
    'spec.containers{app}: ',
    'failed to pull and unpack image "x": ',
    'failed to resolve reference "x": ',
    '401 Unauthorized',
    'not found',
    'toomanyrequests',
    'dial tcp',
    'dial unix',
    'https://',
    '@',
    '?',
    'Bearer ',
    'Basic ',
    '\\x',
    '\\u',
    '\n',
    '"',
  ];
  const fragmentMessage = fc
    .array(fc.oneof(fc.constantFrom(...FRAGMENTS), fc.string({ unit: 'binary', maxLength: 12 })), {
      maxLength: 24,
    })
    .map((parts) => parts.join(''));
  const anyMessage = fc.oneof(
    fc.string({ unit: 'binary' }),
    fc.string({ unit: 'grapheme', maxLength: 400 }),
    fragmentMessage,
  );
  const reason = fc.oneof(
    fc.constantFrom(
      'Pulling',
      'Pulled',
      'Failed',
      'BackOff',
      'ErrImageNeverPull',
      'InspectFailed',
      'ErrImagePull',
      'ImagePullBackOff',
      'InvalidImageName',
      'ImageInspectError',
      'RegistryUnavailable',
      'SignatureValidationFailed',
    ),
    fc.string(),
  );

  function assertDetail(detail: string | undefined): void {
    if (detail === undefined) return;
    assert.ok(detail.length <= DETAIL_MAX_LENGTH, `${detail.length} > ${DETAIL_MAX_LENGTH}`);
    assert.doesNotMatch(detail, /[\r\n\u2028\u2029]/);
  }

  it('every function is total', () => {
    fc.assert(
      fc.property(anyMessage, reason, (message, eventReason) => {
        parsePulledMessage(message);
        imageInMessage(message);
        containerOfFieldPath(message);
        redactCredentials(message);
        const failure = classifyPullFailure(message);
        assert.ok(PULL_FAILURE_CAUSES.includes(failure.cause));
        pullEventKind(eventReason, message);
      }),
      { numRuns: 2000 },
    );
  });

  it('details are one line of at most 200 characters', () => {
    fc.assert(
      fc.property(anyMessage, reason, (message, eventReason) => {
        assertDetail(classifyPullFailure(message).detail);
        const event = pullEventKind(eventReason, message);
        if ('detail' in event) assertDetail(event.detail);
      }),
      { numRuns: 2000 },
    );
  });

  const noise = fc.oneof(fc.string({ unit: 'binary', maxLength: 60 }), fragmentMessage);
  const tokenChars = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.';
  const token = fc
    .array(fc.constantFrom(...tokenChars), { minLength: 16, maxLength: 64 })
    .map((chars) => chars.join(''));
  const word = fc
    .array(fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz0123456789'), {
      minLength: 3,
      maxLength: 12,
    })
    .map((chars) => chars.join(''));

  it('an injected Bearer token never survives', () => {
    fc.assert(
      fc.property(noise, noise, token, (before, after, secret) => {
        const message = `${before}Authorization: Bearer ${secret}${after}`;
        assert.ok(!redactCredentials(message).includes(secret));
        assert.ok(!classifyPullFailure(message).detail.includes(secret));
        const event = pullEventKind(
          'ImagePullBackOff',
          `Back-off pulling image "x": ErrImagePull: ${message}`,
        );
        assert.ok(!('detail' in event) || !event.detail?.includes(secret));
      }),
      { numRuns: 1000 },
    );
  });

  it('injected Basic credentials never survive', () => {
    fc.assert(
      fc.property(noise, noise, word, word, (before, after, user, password) => {
        const secret = Buffer.from(`${user}:${password}`).toString('base64');
        const message = `${before}Authorization: Basic ${secret}${after}`;
        assert.ok(!redactCredentials(message).includes(secret));
        assert.ok(!classifyPullFailure(message).detail.includes(secret));
      }),
      { numRuns: 1000 },
    );
  });

  // Quadratic backtracking on these would hang the run rather than fail an assertion.
  it('answers adversarial 32 KiB inputs with well-formed results', () => {
    const size = 32_000;
    const inputs = [
      'a'.repeat(size),
      `x${' '.repeat(size)}x`,
      `${';'.repeat(size)}x`,
      `https://h/?${':'.repeat(size)}x`,
      'http://'.repeat(size / 7),
      'ab+.-'.repeat(size / 5),
      `Successfully pulled image "${'a'.repeat(size)}`,
      'permission "'.repeat(size / 12),
      'a:\n'.repeat(size / 3),
    ];
    for (const input of inputs) {
      const failure = classifyPullFailure(input);
      assert.ok(failure.detail.length <= DETAIL_MAX_LENGTH);
      assert.ok(!failure.detail.includes('\n'));
      assert.ok(pullEventKind('ImagePullBackOff', input).kind === 'backoff');
      pullEventKind('InvalidImageName', input);
      parsePulledMessage(input);
      imageInMessage(input);
    }
  });

  it('injected user:password@ never survives', () => {
    fc.assert(
      fc.property(noise, noise, word, word, (before, after, user, password) => {
        const secret = `${user}:${password}@`;
        const message = `${before}Get "https://${secret}registry.example/v2/": ${after}`;
        assert.ok(!redactCredentials(message).includes(secret));
        assert.ok(!classifyPullFailure(message).detail.includes(secret));
      }),
      { numRuns: 1000 },
    );
  });
});
