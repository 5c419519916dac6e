import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  DIGEST_ALGORITHMS,
  type ImageReference,
  ImageReferenceError,
  isCanonicalImageReference,
  isDockerHub,
  normalizeImageReference,
  parseDigest,
  parseImageReference,
  tryParseImageReference,
  tryParseImageReferenceCached,
} from '#shared/image/reference.ts';
import { defaultPullPolicy } from '#shared/policy/pull-policy.ts';
import { assertReferenceError, short } from '../../support/image-reference.ts';

const HEX64 = '0123456789abcdef'.repeat(4);
const SHA = `sha256:${HEX64}`;

type Fields = Omit<ImageReference, 'original'>;
const FIELDS = [
  'registry',
  'repository',
  'tag',
  'digest',
  'name',
  'familiarName',
  'canonical',
  'familiar',
  'registryHost',
  'registryPort',
] as const satisfies readonly (keyof Fields)[];

function fieldsOf(reference: ImageReference): Fields {
  return Object.fromEntries(FIELDS.map((field) => [field, reference[field]])) as Fields;
}

/** Every field spelled out, so a row reads as the parse result it expects. */
const ACCEPTED: [string, Fields][] = [
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
      registry: 'docker.io',
      repository: 'library/nginx',
      tag: '1.27',
      digest: undefined,
      name: 'docker.io/library/nginx',
      familiarName: 'nginx',
      canonical: 'docker.io/library/nginx:1.27',
      familiar: 'nginx:1.27',
      registryHost: 'docker.io',
      registryPort: undefined,
    },
  ],
  [
    'myorg/app:v1',
    {
      registry: 'docker.io',
      repository: 'myorg/app',
      tag: 'v1',
      digest: undefined,
      name: 'docker.io/myorg/app',
      familiarName: 'myorg/app',
      canonical: 'docker.io/myorg/app:v1',
      familiar: 'myorg/app:v1',
      registryHost: 'docker.io',
      registryPort: undefined,
    },
  ],
  [
    'index.docker.io/library/nginx',
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
    'index.docker.io/myorg/app',
    {
      registry: 'docker.io',
      repository: 'myorg/app',
      tag: undefined,
      digest: undefined,
      name: 'docker.io/myorg/app',
      familiarName: 'myorg/app',
      canonical: 'docker.io/myorg/app',
      familiar: 'myorg/app',
      registryHost: 'docker.io',
      registryPort: undefined,
    },
  ],
  [
    'docker.io/nginx',
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
    'docker.io/library/a/b',
    {
      registry: 'docker.io',
      repository: 'library/a/b',
      tag: undefined,
      digest: undefined,
      name: 'docker.io/library/a/b',
      familiarName: 'library/a/b',
      canonical: 'docker.io/library/a/b',
      familiar: 'library/a/b',
      registryHost: 'docker.io',
      registryPort: undefined,
    },
  ],
  [
    'localhost/app',
    {
      registry: 'localhost',
      repository: 'app',
      tag: undefined,
      digest: undefined,
      name: 'localhost/app',
      familiarName: 'localhost/app',
      canonical: 'localhost/app',
      familiar: 'localhost/app',
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
      digest: undefined,
      name: 'localhost:5000/app',
      familiarName: 'localhost:5000/app',
      canonical: 'localhost:5000/app:dev',
      familiar: 'localhost:5000/app:dev',
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
      name: 'host:5000/app',
      familiarName: 'host:5000/app',
      canonical: 'host:5000/app',
      familiar: 'host:5000/app',
      registryHost: 'host',
      registryPort: '5000',
    },
  ],
  // an upper-case first segment cannot be a Docker Hub namespace, so it is a registry
  [
    'Foo/bar',
    {
      registry: 'Foo',
      repository: 'bar',
      tag: undefined,
      digest: undefined,
      name: 'Foo/bar',
      familiarName: 'Foo/bar',
      canonical: 'Foo/bar',
      familiar: 'Foo/bar',
      registryHost: 'Foo',
      registryPort: undefined,
    },
  ],
  [
    '127.0.0.1:5000/x',
    {
      registry: '127.0.0.1:5000',
      repository: 'x',
      tag: undefined,
      digest: undefined,
      name: '127.0.0.1:5000/x',
      familiarName: '127.0.0.1:5000/x',
      canonical: '127.0.0.1:5000/x',
      familiar: '127.0.0.1:5000/x',
      registryHost: '127.0.0.1',
      registryPort: '5000',
    },
  ],
  [
    '[::1]:5000/app',
    {
      registry: '[::1]:5000',
      repository: 'app',
      tag: undefined,
      digest: undefined,
      name: '[::1]:5000/app',
      familiarName: '[::1]:5000/app',
      canonical: '[::1]:5000/app',
      familiar: '[::1]:5000/app',
      registryHost: '[::1]',
      registryPort: '5000',
    },
  ],
  [
    '[2001:db8::1]/app',
    {
      registry: '[2001:db8::1]',
      repository: 'app',
      tag: undefined,
      digest: undefined,
      name: '[2001:db8::1]/app',
      familiarName: '[2001:db8::1]/app',
      canonical: '[2001:db8::1]/app',
      familiar: '[2001:db8::1]/app',
      registryHost: '[2001:db8::1]',
      registryPort: undefined,
    },
  ],
  [
    `app@${SHA}`,
    {
      registry: 'docker.io',
      repository: 'library/app',
      tag: undefined,
      digest: SHA,
      name: 'docker.io/library/app',
      familiarName: 'app',
      canonical: `docker.io/library/app@${SHA}`,
      familiar: `app@${SHA}`,
      registryHost: 'docker.io',
      registryPort: undefined,
    },
  ],
  [
    `app:latest@${SHA}`,
    {
      registry: 'docker.io',
      repository: 'library/app',
      tag: 'latest',
      digest: SHA,
      name: 'docker.io/library/app',
      familiarName: 'app',
      canonical: `docker.io/library/app:latest@${SHA}`,
      familiar: `app:latest@${SHA}`,
      registryHost: 'docker.io',
      registryPort: undefined,
    },
  ],
  [
    'a/b__c/d-e---f.g_h',
    {
      registry: 'docker.io',
      repository: 'a/b__c/d-e---f.g_h',
      tag: undefined,
      digest: undefined,
      name: 'docker.io/a/b__c/d-e---f.g_h',
      familiarName: 'a/b__c/d-e---f.g_h',
      canonical: 'docker.io/a/b__c/d-e---f.g_h',
      familiar: 'a/b__c/d-e---f.g_h',
      registryHost: 'docker.io',
      registryPort: undefined,
    },
  ],
  [
    `ghcr.io/acme/web:1.0@${SHA}`,
    {
      registry: 'ghcr.io',
      repository: 'acme/web',
      tag: '1.0',
      digest: SHA,
      name: 'ghcr.io/acme/web',
      familiarName: 'ghcr.io/acme/web',
      canonical: `ghcr.io/acme/web:1.0@${SHA}`,
      familiar: `ghcr.io/acme/web:1.0@${SHA}`,
      registryHost: 'ghcr.io',
      registryPort: undefined,
    },
  ],
  [
    '123456789012.dkr.ecr.us-east-1.amazonaws.com/team/app:v1',
    {
      registry: '123456789012.dkr.ecr.us-east-1.amazonaws.com',
      repository: 'team/app',
      tag: 'v1',
      digest: undefined,
      name: '123456789012.dkr.ecr.us-east-1.amazonaws.com/team/app',
      familiarName: '123456789012.dkr.ecr.us-east-1.amazonaws.com/team/app',
      canonical: '123456789012.dkr.ecr.us-east-1.amazonaws.com/team/app:v1',
      familiar: '123456789012.dkr.ecr.us-east-1.amazonaws.com/team/app:v1',
      registryHost: '123456789012.dkr.ecr.us-east-1.amazonaws.com',
      registryPort: undefined,
    },
  ],
  // without a slash "localhost:5000" is a Docker Hub name with a tag, as in ParseNormalizedNamed
  [
    'localhost:5000',
    {
      registry: 'docker.io',
      repository: 'library/localhost',
      tag: '5000',
      digest: undefined,
      name: 'docker.io/library/localhost',
      familiarName: 'localhost',
      canonical: 'docker.io/library/localhost:5000',
      familiar: 'localhost:5000',
      registryHost: 'docker.io',
      registryPort: undefined,
    },
  ],
  // the short form must not name another registry: "a.b/c" or "localhost/c" would
  [
    'docker.io/a.b/c',
    {
      registry: 'docker.io',
      repository: 'a.b/c',
      tag: undefined,
      digest: undefined,
      name: 'docker.io/a.b/c',
      familiarName: 'docker.io/a.b/c',
      canonical: 'docker.io/a.b/c',
      familiar: 'docker.io/a.b/c',
      registryHost: 'docker.io',
      registryPort: undefined,
    },
  ],
  [
    'docker.io/localhost/app:1',
    {
      registry: 'docker.io',
      repository: 'localhost/app',
      tag: '1',
      digest: undefined,
      name: 'docker.io/localhost/app',
      familiarName: 'docker.io/localhost/app',
      canonical: 'docker.io/localhost/app:1',
      familiar: 'docker.io/localhost/app:1',
      registryHost: 'docker.io',
      registryPort: undefined,
    },
  ],
  // a 64-hex name is an image ID on its own, so its short form keeps "library/"
  [
    `docker.io/library/${HEX64}`,
    {
      registry: 'docker.io',
      repository: `library/${HEX64}`,
      tag: undefined,
      digest: undefined,
      name: `docker.io/library/${HEX64}`,
      familiarName: `library/${HEX64}`,
      canonical: `docker.io/library/${HEX64}`,
      familiar: `library/${HEX64}`,
      registryHost: 'docker.io',
      registryPort: undefined,
    },
  ],
];

/** input → the fields that row is about (the rest are covered above). */
const ACCEPTED_PARTS: [string, Partial<Fields>][] = [
  [`x@sha384:${'a'.repeat(96)}`, { digest: `sha384:${'a'.repeat(96)}`, tag: undefined }],
  [`x@sha512:${'b'.repeat(128)}`, { digest: `sha512:${'b'.repeat(128)}`, tag: undefined }],
  [`x@blake3:${'c'.repeat(64)}`, { digest: `blake3:${'c'.repeat(64)}`, tag: undefined }],
  [`x:${'t'.repeat(128)}`, { tag: 't'.repeat(128) }],
  ['x:_under.score-1', { tag: '_under.score-1' }],
  ['x:UPPER', { tag: 'UPPER', repository: 'library/x' }],
  [`${HEX64}:v1`, { repository: `library/${HEX64}`, tag: 'v1' }],
  // a bare digest is a Docker Hub name "sha256" with a tag, as in ParseNormalizedNamed
  [SHA, { repository: 'library/sha256', tag: HEX64, digest: undefined }],
  ['registry.example.com:443/a/b/c/d', { registryPort: '443', repository: 'a/b/c/d' }],
  ['Registry.Example.COM/app', { registry: 'Registry.Example.COM', repository: 'app' }],
];

/** input → [offset, part of the reason] */
const REJECTED: [string, number, string][] = [
  ['', 0, 'empty reference'],
  ['docker.io/Nginx', 10, 'lowercase'],
  ['Nginx', 0, 'lowercase'],
  ['ghcr.io/Acme/app', 8, 'lowercase'],
  ['nginx:', 6, 'empty tag'],
  ['a/b:', 4, 'empty tag'],
  ['nginx:-x', 6, 'tag'],
  ['a//b', 2, 'empty path component'],
  ['a/', 2, 'empty path component'],
  ['a..b', 2, 'separator'],
  ['a___b', 3, 'separator'],
  ['-a', 0, 'repository name'],
  ['a-', 2, 'separator'],
  ['app name', 3, 'repository name'],
  ['host-:5000/a', 4, 'must not end with "-"'],
  ['host-.io/a', 4, 'must not end with "-"'],
  ['a.-b.io/x', 2, 'must start with a letter or digit'],
  ['.a.io/x', 0, 'must start with a letter or digit'],
  ['a.io./x', 5, 'must start with a letter or digit'],
  ['a_b.io/x', 1, 'registry host'],
  ['host:/a', 5, 'empty registry port'],
  ['host:12a/a', 7, 'registry port'],
  ['nginx:1.0/foo', 7, 'registry port'],
  ['[fe80::1%eth0]:5000/a', 8, 'IPv6'],
  // without "." or ":" the first segment is not a registry, so "[" is a bad path character
  ['[]/a', 0, 'repository name'],
  ['[]:5000/a', 1, 'empty IPv6 address'],
  [`app@sha256:${HEX64.slice(1)}`, 11, 'sha256 digest must have 64 hex digits, found 63'],
  [`app@sha256:${HEX64.toUpperCase()}`, 21, 'lowercase'],
  [`app@sha256:${HEX64}g`, 75, 'expected hex digits'],
  [`app@sha256:${'a'.repeat(31)}`, 11, 'at least 32 hex digits'],
  ['app@sha256:', 11, 'at least 32 hex digits'],
  [`x@sha384:${'a'.repeat(64)}`, 9, 'sha384 digest must have 96 hex digits'],
  [`x@sha512:${'a'.repeat(96)}`, 9, 'sha512 digest must have 128 hex digits'],
  [`x@blake3:${'a'.repeat(128)}`, 9, 'blake3 digest must have 64 hex digits'],
  [`app@md5:${'a'.repeat(32)}`, 4, 'unsupported digest algorithm "md5"'],
  [`app@constructor:${'a'.repeat(32)}`, 4, 'unsupported digest algorithm'],
  ['app@sha256', 10, 'expected ":"'],
  [`app@@${SHA}`, 4, 'digest algorithm must start with a letter'],
  ['app@', 4, 'digest algorithm must start with a letter'],
  ['app:tag@', 8, 'digest algorithm must start with a letter'],
  [`app@${SHA}@${SHA}`, 75, 'digest'],
  ['app:tag:x', 7, 'tag'],
  ['nginx:1.27 ', 10, 'tag'],
  [`x:${'t'.repeat(129)}`, 130, 'tag exceeds 128 characters'],
  [HEX64, 0, 'image ID'],
];

/** `prefix` followed by 50-character path segments until the whole text is `total` characters long. */
function nameOfLength(prefix: string, total: number): string {
  let path = '';
  while (prefix.length + path.length < total) {
    const room = total - prefix.length - path.length - (path === '' ? 0 : 1);
    const segment = 'a'.repeat(Math.min(50, room));
    path = path === '' ? segment : `${path}/${segment}`;
  }
  return prefix + path;
}

describe('parseImageReference: accepted references, every field', () => {
  for (const [input, expected] of ACCEPTED) {
    it(`parses ${short(input)}`, () => {
      const reference = parseImageReference(input);
      assert.equal(reference.original, input);
      assert.deepEqual(fieldsOf(reference), expected);
    });
  }
});

describe('parseImageReference: accepted references, selected fields', () => {
  for (const [input, expected] of ACCEPTED_PARTS) {
    it(`parses ${short(input)}`, () => {
      const reference = parseImageReference(input);
      for (const [field, value] of Object.entries(expected)) {
        assert.equal(reference[field as keyof Fields], value, field);
      }
    });
  }
});

describe('parseImageReference: name length limit', () => {
  it('accepts a normalised name of exactly 255 characters and rejects 256', () => {
    const longest = nameOfLength('ghcr.io/', 255);
    assert.equal(parseImageReference(longest).name, longest);
    const error = tryParseImageReference(`${longest}a`);
    assert.ok(error instanceof ImageReferenceError);
    assert.match(error.reason, /exceeds 255 characters/);
    assert.equal(error.offset, 255);
  });

  it('counts the docker.io/library/ prefix that normalisation adds', () => {
    const bare = 'a'.repeat(255 - 'docker.io/library/'.length);
    assert.equal(parseImageReference(bare).name.length, 255);
    assert.equal(parseImageReference(`${bare}:tag`).name.length, 255, 'a tag does not count');
    const error = tryParseImageReference(`${bare}a`);
    assert.ok(error instanceof ImageReferenceError);
    assert.match(error.reason, /exceeds 255 characters/);
    assert.equal(error.offset, bare.length, 'points at the 256th character of the name');
  });

  it('counts docker.io, not the longer index.docker.io the input spells', () => {
    const path = nameOfLength('docker.io/myorg/', 255).slice('docker.io/'.length);
    const input = `index.docker.io/${path}`;
    assert.equal(input.length, 261);
    assert.equal(parseImageReference(input).name.length, 255);
    assert.ok(tryParseImageReference(`${input}a`) instanceof ImageReferenceError);
  });
});

describe('parseImageReference: rejected references', () => {
  for (const [input, offset, reason] of REJECTED) {
    it(`rejects ${short(input)} at offset ${offset}`, () => {
      const error = tryParseImageReference(input);
      assertReferenceError(error, { input, offset, reason });
      assert.throws(
        () => parseImageReference(input),
        (thrown: unknown) =>
          thrown instanceof ImageReferenceError &&
          thrown.offset === offset &&
          thrown.reason === error.reason,
      );
      assert.throws(() => normalizeImageReference(input), ImageReferenceError);
      assert.equal(isCanonicalImageReference(input), false);
    });
  }

  it('shortens long inputs in the message but keeps them whole on the error', () => {
    const input = `${'a'.repeat(400)}:`;
    const error = tryParseImageReference(input);
    assert.ok(error instanceof ImageReferenceError);
    assert.equal(error.input, input);
    assert.ok(error.message.length < 400);
    assert.ok(error.message.endsWith(`at offset ${input.length}`));
  });
});

describe('defaultPullPolicy of parsed references (anchor bugs)', () => {
  const cases: [string, 'Always' | 'IfNotPresent'][] = [
    ['host:5000/app', 'Always'],
    ['localhost:5000/app:dev', 'IfNotPresent'],
    [`app@${SHA}`, 'IfNotPresent'],
    [`app:latest@${SHA}`, 'Always'],
    [`app:1.2@${SHA}`, 'IfNotPresent'],
    ['app:1.2', 'IfNotPresent'],
    ['app', 'Always'],
    ['app:latest', 'Always'],
  ];
  for (const [input, policy] of cases) {
    it(`defaults ${short(input)} to ${policy}`, () => {
      assert.equal(defaultPullPolicy(parseImageReference(input)), policy);
    });
  }
});

describe('parseDigest', () => {
  const accepted: [string, string, string][] = [
    [SHA, 'sha256', HEX64],
    [`sha384:${'1'.repeat(96)}`, 'sha384', '1'.repeat(96)],
    [`sha512:${'2'.repeat(128)}`, 'sha512', '2'.repeat(128)],
    [`blake3:${'3'.repeat(64)}`, 'blake3', '3'.repeat(64)],
  ];
  for (const [input, algorithm, encoded] of accepted) {
    it(`splits ${short(input)} into algorithm and hex`, () => {
      assert.deepEqual(parseDigest(input), { algorithm, encoded, value: input });
    });
  }

  const rejected: [string, number, string][] = [
    ['', 0, 'empty digest'],
    ['sha256:xyz', 7, 'expected hex digits'],
    [HEX64, 0, 'digest algorithm'],
    [`sha256:${HEX64.slice(2)}`, 7, 'must have 64 hex digits'],
    [`SHA256:${HEX64}`, 0, 'unsupported digest algorithm'],
    [`sha256:${HEX64.toUpperCase()}`, 17, 'lowercase'],
    [`sha256:${HEX64} `, 71, 'expected hex digits'],
  ];
  for (const [input, offset, reason] of rejected) {
    it(`rejects ${short(input)} at offset ${offset}`, () => {
      assert.throws(
        () => parseDigest(input),
        (error: unknown) =>
          error instanceof ImageReferenceError &&
          error.input === input &&
          error.offset === offset &&
          error.reason.includes(reason),
      );
    });
  }
});

describe('isDockerHub', () => {
  const cases: [string, boolean][] = [
    ['nginx', true],
    ['myorg/app', true],
    ['docker.io/myorg/app', true],
    ['index.docker.io/myorg/app', true],
    ['registry.tld/foo/bar', false],
    ['registry:5000/foo/bar', false],
    ['myhostdocker.io/foo/bar', false],
    ['registry-1.docker.io/library/nginx', false],
    ['Docker.io/library/nginx', false],
    ['localhost/nginx', false],
  ];
  for (const [input, expected] of cases) {
    it(`${expected ? 'counts' : 'does not count'} ${short(input)} as Docker Hub`, () => {
      assert.equal(isDockerHub(parseImageReference(input)), expected);
    });
  }
});

// Generators that follow the grammar, so every generated reference is valid by construction (nothing is
// filtered through the parser under test) and the parts it was built from are known.
const lowerAlnum = fc.stringMatching(/^[a-z0-9]{1,6}$/);
const separator = fc.constantFrom('.', '_', '__', '-', '--', '---');
const pathComponent = fc
  .tuple(lowerAlnum, fc.array(fc.tuple(separator, lowerAlnum), { maxLength: 3 }))
  .map(([head, rest]) => head + rest.map(([sep, part]) => sep + part).join(''));
const domainLabel = fc.stringMatching(/^[a-zA-Z0-9]([a-zA-Z0-9-]{0,4}[a-zA-Z0-9])?$/);
const ipv6 = fc
  .array(fc.stringMatching(/^[0-9a-fA-F]{0,4}$/), { minLength: 2, maxLength: 8 })
  .map((groups) => `[${groups.join(':')}]`);
// Every host here reads as a registry: it has ".", ":" (IPv6), an upper-case letter, or is localhost.
const host = fc.oneof(
  fc.constantFrom('localhost', 'docker.io', 'index.docker.io', 'ghcr.io'),
  fc
    .tuple(domainLabel, fc.array(domainLabel, { minLength: 1, maxLength: 3 }))
    .map(([head, rest]) => [head, ...rest].join('.')),
  domainLabel.filter((label) => label !== label.toLowerCase()),
  ipv6,
);
const registryPart = fc.option(
  fc.record({ host, port: fc.option(fc.nat({ max: 99999 }), { nil: undefined }) }),
  { nil: undefined },
);
const tagPart = fc.option(fc.stringMatching(/^\w[\w.-]{0,127}$/), { nil: undefined });
const digestPart = fc.option(
  fc.constantFrom(...Object.keys(DIGEST_ALGORITHMS)).chain((algorithm) =>
    fc
      .string({
        unit: fc.constantFrom(...'0123456789abcdef'),
        minLength: DIGEST_ALGORITHMS[algorithm] as number,
        maxLength: DIGEST_ALGORITHMS[algorithm] as number,
      })
      .map((hex) => `${algorithm}:${hex}`),
  ),
  { nil: undefined },
);

interface Parts {
  readonly registry: string | undefined;
  readonly path: readonly string[];
  readonly tag: string | undefined;
  readonly digest: string | undefined;
}

const parts: fc.Arbitrary<Parts> = fc
  .record({
    registry: registryPart,
    path: fc.array(pathComponent, { minLength: 1, maxLength: 4 }),
    tag: tagPart,
    digest: digestPart,
  })
  .map(({ registry, path, tag, digest }) => ({
    registry:
      registry === undefined
        ? undefined
        : `${registry.host}${registry.port === undefined ? '' : `:${registry.port}`}`,
    path,
    tag,
    digest,
  }))
  // Without a registry, a first segment with "." or "localhost" would itself be read as the registry.
  .filter(
    ({ registry, path }) =>
      registry !== undefined ||
      path.length === 1 ||
      !(path[0]?.includes('.') || path[0] === 'localhost'),
  );

function render({ registry, path, tag, digest }: Parts): string {
  return `${registry === undefined ? '' : `${registry}/`}${path.join('/')}${
    tag === undefined ? '' : `:${tag}`
  }${digest === undefined ? '' : `@${digest}`}`;
}

const reference = parts.map(render);

const RUNS = { numRuns: 1000 };

describe('properties of valid references', () => {
  it('parses every generated reference into the parts it was built from', () => {
    fc.assert(
      fc.property(parts, (p) => {
        const parsed = parseImageReference(render(p));
        const registry =
          p.registry === undefined || p.registry === 'index.docker.io' ? 'docker.io' : p.registry;
        const path = p.path.join('/');
        assert.equal(parsed.registry, registry);
        assert.equal(
          parsed.repository,
          registry === 'docker.io' && p.path.length === 1 ? `library/${path}` : path,
        );
        assert.equal(parsed.tag, p.tag);
        assert.equal(parsed.digest, p.digest);
        assert.equal(parsed.name, `${parsed.registry}/${parsed.repository}`);
        assert.equal(
          `${parsed.registryHost}${parsed.registryPort === undefined ? '' : `:${parsed.registryPort}`}`,
          parsed.registry,
        );
      }),
      RUNS,
    );
  });

  it('round-trips through the canonical form', () => {
    fc.assert(
      fc.property(reference, (input) => {
        const first = parseImageReference(input);
        const again = parseImageReference(first.canonical);
        assert.equal(again.canonical, first.canonical);
        assert.deepEqual(fieldsOf(again), fieldsOf(first));
      }),
      RUNS,
    );
  });

  it('normalises the familiar form back to the same canonical form', () => {
    fc.assert(
      fc.property(reference, (input) => {
        const parsed = parseImageReference(input);
        assert.equal(parseImageReference(parsed.familiar).canonical, parsed.canonical);
        assert.equal(parseImageReference(parsed.familiarName).name, parsed.name);
      }),
      RUNS,
    );
  });

  it('normalises idempotently', () => {
    fc.assert(
      fc.property(reference, (input) => {
        const once = normalizeImageReference(input);
        assert.equal(normalizeImageReference(once), once);
      }),
      RUNS,
    );
  });

  it('recognises its own canonical output as canonical, and only that', () => {
    fc.assert(
      fc.property(reference, (input) => {
        const parsed = parseImageReference(input);
        assert.equal(isCanonicalImageReference(parsed.canonical), true);
        assert.equal(isCanonicalImageReference(input), input === parsed.canonical);
      }),
      RUNS,
    );
  });

  it('parses every generated digest on its own', () => {
    fc.assert(
      fc.property(
        digestPart.filter((d) => d !== undefined),
        (digest) => {
          const [algorithm, encoded] = digest.split(':');
          assert.deepEqual(parseDigest(digest), { algorithm, encoded, value: digest });
        },
      ),
      RUNS,
    );
  });
});

function assertWellFormedOutcome(input: string): void {
  let result: ImageReference | ImageReferenceError;
  try {
    result = parseImageReference(input);
  } catch (error) {
    assert.ok(error instanceof ImageReferenceError, `threw ${String(error)}`);
    result = error;
  }
  assert.deepEqual(tryParseImageReference(input), result);
  if (result instanceof ImageReferenceError) {
    assert.equal(result.input, input);
    assert.ok(
      Number.isInteger(result.offset) && result.offset >= 0 && result.offset <= input.length,
      `offset ${result.offset} outside [0, ${input.length}]`,
    );
    assert.ok(result.reason.length > 0);
    assert.ok(result.message.endsWith(`: ${result.reason} at offset ${result.offset}`));
  } else {
    assert.equal(result.original, input);
    assert.equal(isCanonicalImageReference(result.canonical), true);
  }
}

describe('properties of arbitrary text', () => {
  it('either parses or fails with an ImageReferenceError whose offset lies inside the input', () => {
    fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 80 }), assertWellFormedOutcome), {
      numRuns: 2000,
    });
  });

  it('does the same for text made of the characters the grammar cares about', () => {
    const grammarChars = fc.constantFrom(...'ab09AZ./:@_-[]%+ sha256f');
    fc.assert(
      fc.property(fc.string({ unit: grammarChars, maxLength: 60 }), assertWellFormedOutcome),
      { numRuns: 3000 },
    );
  });

  it('does the same for valid references with one character inserted, removed or replaced', () => {
    const mutated = fc
      .tuple(reference, fc.nat(), fc.constantFrom(...'/:@.-_A[]% '), fc.constantFrom(0, 1, 2))
      .map(([input, at, char, edit]) => {
        const i = at % (input.length + 1);
        if (edit === 0) return input.slice(0, i) + char + input.slice(i);
        if (edit === 1) return input.slice(0, i) + input.slice(i + 1);
        return input.slice(0, i) + char + input.slice(i + 1);
      });
    fc.assert(fc.property(mutated, assertWellFormedOutcome), { numRuns: 3000 });
  });
});

describe('tryParseImageReferenceCached', () => {
  it('answers as tryParseImageReference does, the second time from memory', () => {
    for (const input of [
      'nginx',
      'host:5000/app:1@sha256:'.concat('a'.repeat(64)),
      'Bad:Ref',
      '',
    ]) {
      const first = tryParseImageReferenceCached(input);
      assert.deepEqual(first, tryParseImageReference(input), input);
      if (first instanceof Error)
        assert.equal(first.message, (tryParseImageReference(input) as Error).message);
      assert.equal(tryParseImageReferenceCached(input), first, `${input} is remembered`);
    }
  });

  it('keeps answering right past the number of inputs it remembers, early inputs and recent ones', () => {
    const input = (index: number) => `registry.example/app-${index}:v${index % 7}`;
    // More distinct inputs than it remembers, each asked twice: once when new, once after others.
    for (let index = 0; index < 10_000; index++) {
      for (const asked of [index, Math.floor(index / 2), index - 1].filter((at) => at >= 0)) {
        assert.deepEqual(
          tryParseImageReferenceCached(input(asked)),
          tryParseImageReference(input(asked)),
          input(asked),
        );
      }
    }
  });
});
