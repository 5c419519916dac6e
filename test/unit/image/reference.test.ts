import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import {
  type ImageReference,
  ImageReferenceError,
  isCanonicalImageReference,
  isDockerHub,
  normalizeImageReference,
  parseDigest,
  parseImageReference,
  tryParseImageReference,
} from '#shared/image/reference.ts';
import { defaultPullPolicy } from '#shared/policy/pull-policy.ts';

const HEX64 = '0123456789abcdef'.repeat(4);
const SHA = `sha256:${HEX64}`;

type Expected = Partial<Omit<ImageReference, 'original'>>;

// input → the fields that matter for it
const ACCEPTED: [string, Expected][] = [
  [
    'nginx',
    {
      registry: 'docker.io',
      repository: 'library/nginx',
      tag: undefined,
      digest: undefined,
      name: 'docker.io/library/nginx',
      familiarName: 'nginx',
      canonical: 'docker.io/library/nginx',
      familiar: 'nginx',
      registryHost: 'docker.io',
      registryPort: undefined,
    },
  ],
  [
    'nginx:1.27',
    {
      name: 'docker.io/library/nginx',
      tag: '1.27',
      canonical: 'docker.io/library/nginx:1.27',
      familiar: 'nginx:1.27',
    },
  ],
  ['myorg/app:v1', { name: 'docker.io/myorg/app', familiarName: 'myorg/app', tag: 'v1' }],
  [
    'index.docker.io/library/nginx',
    { registry: 'docker.io', name: 'docker.io/library/nginx', familiar: 'nginx' },
  ],
  ['docker.io/nginx', { repository: 'library/nginx', familiar: 'nginx' }],
  ['docker.io/library/a/b', { repository: 'library/a/b', familiarName: 'library/a/b' }],
  [
    'localhost/app',
    {
      registry: 'localhost',
      repository: 'app',
      registryHost: 'localhost',
      registryPort: undefined,
    },
  ],
  [
    'localhost:5000/app:dev',
    {
      registry: 'localhost:5000',
      repository: 'app',
      tag: 'dev',
      name: 'localhost:5000/app',
      registryHost: 'localhost',
      registryPort: '5000',
    },
  ],
  // kube-score reads "5000/app" as the tag here
  [
    'host:5000/app',
    {
      registry: 'host:5000',
      repository: 'app',
      tag: undefined,
      digest: undefined,
      familiar: 'host:5000/app',
    },
  ],
  ['Foo/bar', { registry: 'Foo', repository: 'bar' }],
  [
    '127.0.0.1:5000/x',
    { registry: '127.0.0.1:5000', registryHost: '127.0.0.1', registryPort: '5000' },
  ],
  [
    '[::1]:5000/app',
    { registry: '[::1]:5000', registryHost: '[::1]', registryPort: '5000', repository: 'app' },
  ],
  [
    '[2001:db8::1]/app',
    { registry: '[2001:db8::1]', registryHost: '[2001:db8::1]', registryPort: undefined },
  ],
  [
    `app@${SHA}`,
    {
      tag: undefined,
      digest: SHA,
      canonical: `docker.io/library/app@${SHA}`,
      familiar: `app@${SHA}`,
    },
  ],
  [`app:latest@${SHA}`, { tag: 'latest', digest: SHA, familiar: `app:latest@${SHA}` }],
  ['a/b__c/d-e---f.g_h', { repository: 'a/b__c/d-e---f.g_h', registry: 'docker.io' }],
  [
    'ghcr.io/acme/web:1.0',
    { registry: 'ghcr.io', familiarName: 'ghcr.io/acme/web', familiar: 'ghcr.io/acme/web:1.0' },
  ],
  [
    '123456789012.dkr.ecr.us-east-1.amazonaws.com/team/app:v1',
    { name: '123456789012.dkr.ecr.us-east-1.amazonaws.com/team/app', tag: 'v1' },
  ],
  [`x@sha384:${'a'.repeat(96)}`, { digest: `sha384:${'a'.repeat(96)}` }],
  [`x@sha512:${'b'.repeat(128)}`, { digest: `sha512:${'b'.repeat(128)}` }],
  [`x@blake3:${'c'.repeat(64)}`, { digest: `blake3:${'c'.repeat(64)}` }],
  [`x:${'t'.repeat(128)}`, { tag: 't'.repeat(128) }],
  ['x:_under.score-1', { tag: '_under.score-1' }],
  // "localhost:5000" without a slash is a Docker Hub name with a tag, as in the reference implementation
  ['localhost:5000', { name: 'docker.io/library/localhost', tag: '5000' }],
  // a 64-hex string with a tag is a repository name, not an ID
  [`${HEX64}:v1`, { repository: `library/${HEX64}`, tag: 'v1' }],
];

// input → [offset, part of the reason]
const REJECTED: [string, number, string][] = [
  ['', 0, 'empty reference'],
  ['docker.io/Nginx', 10, 'lowercase'],
  ['nginx:', 6, 'empty tag'],
  ['nginx:-x', 6, 'tag'],
  ['a//b', 2, 'empty path component'],
  ['a/', 2, 'empty path component'],
  ['a..b', 2, 'separator'],
  ['a___b', 3, 'separator'],
  ['-a', 0, 'repository name'],
  ['a-', 2, 'separator'],
  ['host-.io/a', 4, 'must not end with "-"'],
  ['host:/a', 5, 'empty registry port'],
  ['host:12a/a', 7, 'registry port'],
  ['[fe80::1%eth0]:5000/a', 8, 'IPv6'],
  // without "." or ":" the first segment is not a host, so the bracket is a bad path character
  ['[]/a', 0, 'repository name'],
  ['[]:5000/a', 1, 'empty IPv6 address'],
  [`app@sha256:${HEX64.slice(1)}`, 11, 'must have 64 hex digits'],
  [`app@sha256:${HEX64.toUpperCase()}`, 21, 'lowercase'],
  [`app@md5:${'a'.repeat(32)}`, 4, 'unsupported digest algorithm "md5"'],
  ['app@sha256', 10, 'expected ":"'],
  [`app@@${SHA}`, 4, 'digest algorithm must start with a letter'],
  [`app@${SHA}@${SHA}`, 75, 'digest'],
  ['app:tag:x', 7, 'tag'],
  [HEX64, 0, 'image ID'],
  [`x:${'t'.repeat(129)}`, 130, 'tag exceeds 128 characters'],
  ['app name', 3, 'repository name'],
  ['nginx:1.27 ', 10, 'tag'],
];

function nameOfLength(total: number): string {
  // docker.io/ + path; path segments of 50 chars joined by '/'
  const pathLength = total - 'docker.io/'.length;
  let path = '';
  while (path.length < pathLength) {
    const room = pathLength - path.length - (path === '' ? 0 : 1);
    const segment = 'a'.repeat(Math.min(50, room));
    path = path === '' ? segment : `${path}/${segment}`;
  }
  return `docker.io/${path}`;
}

describe('parseImageReference: accepted references', () => {
  for (const [input, expected] of ACCEPTED) {
    test(input.length > 60 ? `${input.slice(0, 60)}…` : input, () => {
      const reference = parseImageReference(input);
      assert.equal(reference.original, input);
      for (const [field, value] of Object.entries(expected)) {
        assert.equal(reference[field as keyof ImageReference], value, field);
      }
    });
  }

  test('the normalised name may be exactly 255 characters, not 256', () => {
    assert.equal(parseImageReference(nameOfLength(255)).name.length, 255);
    const error = tryParseImageReference(nameOfLength(256));
    assert.ok(error instanceof ImageReferenceError);
    assert.match(error.reason, /exceeds 255 characters/);
  });

  test('the docker.io/library/ prefix counts towards the limit', () => {
    const bare = 'a'.repeat(255 - 'docker.io/library/'.length);
    assert.equal(parseImageReference(bare).name.length, 255);
    assert.ok(tryParseImageReference(`${bare}a`) instanceof ImageReferenceError);
  });
});

describe('parseImageReference: rejected references', () => {
  for (const [input, offset, reason] of REJECTED) {
    test(JSON.stringify(input.length > 60 ? `${input.slice(0, 60)}…` : input), () => {
      const error = tryParseImageReference(input);
      assert.ok(error instanceof ImageReferenceError, 'returns the error');
      assert.equal(error.input, input);
      assert.ok(error.reason.includes(reason), `reason "${error.reason}" mentions "${reason}"`);
      assert.equal(error.offset, offset, error.message);
      assert.equal(
        error.message,
        `invalid image reference ${JSON.stringify(input)}: ${error.reason} at offset ${offset}`,
      );
      assert.throws(() => parseImageReference(input), ImageReferenceError);
    });
  }

  test('long inputs are shortened in the message but kept whole on the error', () => {
    const input = `${'a'.repeat(400)}:`;
    const error = tryParseImageReference(input);
    assert.ok(error instanceof ImageReferenceError);
    assert.equal(error.input, input);
    assert.ok(error.message.length < 400);
  });
});

describe('pull policy defaults through the parser (anchor bugs)', () => {
  const cases: [string, 'Always' | 'IfNotPresent'][] = [
    ['host:5000/app', 'Always'],
    [`app@${SHA}`, 'IfNotPresent'],
    [`app:latest@${SHA}`, 'Always'],
    ['app:1.2', 'IfNotPresent'],
    ['app', 'Always'],
    ['app:latest', 'Always'],
  ];
  for (const [input, policy] of cases) {
    test(`${input.slice(0, 40)} defaults to ${policy}`, () => {
      assert.equal(defaultPullPolicy(parseImageReference(input)), policy);
    });
  }
});

describe('digests and Docker Hub', () => {
  test('parseDigest splits algorithm and hex', () => {
    assert.deepEqual(parseDigest(SHA), { algorithm: 'sha256', encoded: HEX64, value: SHA });
    assert.throws(() => parseDigest('sha256:xyz'), ImageReferenceError);
    assert.throws(() => parseDigest(''), /empty digest/);
  });

  test('isDockerHub is true for short names and both Docker Hub hosts only', () => {
    for (const input of [
      'nginx',
      'myorg/app',
      'docker.io/myorg/app',
      'index.docker.io/myorg/app',
    ]) {
      assert.equal(isDockerHub(parseImageReference(input)), true, input);
    }
    for (const input of [
      'registry.tld/foo/bar',
      'registry:5000/foo/bar',
      'myhostdocker.io/foo/bar',
    ]) {
      assert.equal(isDockerHub(parseImageReference(input)), false, input);
    }
  });
});

// Generators that follow the grammar, so that properties see deep and unusual but valid references.
const lowerAlnum = fc.stringMatching(/^[a-z0-9]{1,6}$/);
const separator = fc.constantFrom('.', '_', '__', '-', '--', '---');
const pathComponent = fc
  .tuple(lowerAlnum, fc.array(fc.tuple(separator, lowerAlnum), { maxLength: 2 }))
  .map(([head, rest]) => head + rest.map(([sep, part]) => sep + part).join(''));
const domainLabel = fc.stringMatching(/^[a-zA-Z0-9]([a-zA-Z0-9-]{0,4}[a-zA-Z0-9])?$/);
const domain = fc.oneof(
  fc.constant(undefined),
  fc.constantFrom('localhost', 'docker.io', 'index.docker.io', '[::1]', '[2001:db8::7]'),
  fc
    .tuple(domainLabel, fc.array(domainLabel, { minLength: 1, maxLength: 3 }))
    .map(([head, rest]) => [head, ...rest].join('.')),
);
const port = fc.option(fc.integer({ min: 1, max: 65535 }), { nil: undefined });
const tag = fc.option(fc.stringMatching(/^[\w][\w.-]{0,20}$/), { nil: undefined });
const digest = fc.option(
  fc.stringMatching(/^[a-f0-9]{64}$/).map((hex) => `sha256:${hex}`),
  { nil: undefined },
);
const reference = fc
  .record({
    domain,
    port,
    path: fc.array(pathComponent, { minLength: 1, maxLength: 4 }),
    tag,
    digest,
  })
  .map(({ domain: host, port: number, path, tag: t, digest: d }) => {
    const registry =
      host === undefined ? '' : `${host}${number === undefined ? '' : `:${number}`}/`;
    return `${registry}${path.join('/')}${t === undefined ? '' : `:${t}`}${d === undefined ? '' : `@${d}`}`;
  })
  .filter((input) => !(tryParseImageReference(input) instanceof ImageReferenceError));

describe('properties', () => {
  test('the canonical form parses to the same reference', () => {
    fc.assert(
      fc.property(reference, (input) => {
        const first = parseImageReference(input);
        const again = parseImageReference(first.canonical);
        assert.equal(again.canonical, first.canonical);
        for (const field of [
          'registry',
          'repository',
          'tag',
          'digest',
          'name',
          'familiar',
        ] as const) {
          assert.equal(again[field], first[field], field);
        }
      }),
      { numRuns: 500 },
    );
  });

  test('the familiar form normalises back to the canonical form', () => {
    fc.assert(
      fc.property(reference, (input) => {
        const parsed = parseImageReference(input);
        assert.equal(normalizeImageReference(parsed.familiar), parsed.canonical);
      }),
      { numRuns: 500 },
    );
  });

  test('normalising is idempotent and yields canonical references', () => {
    fc.assert(
      fc.property(reference, (input) => {
        const once = normalizeImageReference(input);
        assert.equal(normalizeImageReference(once), once);
        assert.equal(isCanonicalImageReference(once), true);
      }),
      { numRuns: 500 },
    );
  });

  test('any string either parses or fails with an offset inside the input', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ maxLength: 40 }),
          reference.map((input) => `${input}${'/:@.-_'[input.length % 6]}`),
        ),
        (input) => {
          const result = tryParseImageReference(input);
          if (result instanceof ImageReferenceError) {
            assert.ok(
              result.offset >= 0 && result.offset <= input.length,
              `${result.offset} in ${input.length}`,
            );
          } else {
            assert.equal(result.original, input);
          }
        },
      ),
      { numRuns: 2000 },
    );
  });
});
