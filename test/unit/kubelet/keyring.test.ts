import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  DEFAULT_REGISTRY_HOST,
  explainUrlsMatch,
  goUrlParseError,
  isDefaultRegistryMatch,
  Keyring,
  kubeletImageName,
  lookupAuthKeys,
  selectProviders,
  splitSchemeless,
} from '#shared/kubelet/keyring.ts';
import { urlsMatch } from '#shared/kubelet/url-glob.ts';
import { URLS_MATCH_VECTORS } from '../../support/kubelet-vectors.ts';

describe('selectProviders: research §8.1 URLsMatch vectors', () => {
  for (const [pattern, target, expected] of URLS_MATCH_VECTORS) {
    it(`${expected ? 'execs' : 'skips'} the provider for ${target} with ${pattern}`, () => {
      const [selection] = selectProviders([{ name: 'p', matchImages: [pattern] }], target);
      assert.equal(selection?.matched, expected);
      assert.equal(selection?.firstMatch?.pattern, expected ? pattern : undefined);
      const explained = explainUrlsMatch(pattern, target);
      assert.equal(explained.matches, expected);
      assert.equal(explained.matches, urlsMatch(pattern, target), 'agrees with url-glob');
    });
  }
});

describe('explainUrlsMatch: the first failing check, in URLsMatch order', () => {
  const reasons: [string, string, RegExp][] = [
    [
      'prefix.*.io/foo',
      'prefix.kubernetes.io:1111/foo/bar',
      /ports differ: pattern has no port, image has port 1111/,
    ],
    [
      'registry.io:5000',
      'registry.io/app',
      /ports differ: pattern has port 5000, image has no port/,
    ],
    ['*.kubernetes.io', 'kubernetes.io', /host label counts differ: .* has 3, .* has 2/],
    ['registry.io/*', 'registry.io/foo', /path "\/\*" is not a prefix of "\/foo"/],
    ['k*.io', 'quay.io', /host label 1 "k\*" does not match "quay"/],
    ['reg[.io', 'reg[.io', /"reg\[" is a malformed glob/],
    [
      'registry io',
      'registry.io',
      /pattern is not a valid URL .*invalid character " " in host name/,
    ],
    ['*.io', 'gcr.io/app', /^matches$/],
  ];
  for (const [pattern, target, reason] of reasons) {
    it(`${pattern} vs ${target}`, () => {
      assert.match(explainUrlsMatch(pattern, target).reason, reason);
    });
  }
});

describe('selectProviders', () => {
  const providers = [
    { name: 'ecr', matchImages: ['*.dkr.ecr.*.amazonaws.com', 'public.ecr.aws'] },
    { name: 'hub', matchImages: ['docker.io'] },
    { name: 'everything-ecr', matchImages: ['public.ecr.aws/nginx', '*.dkr.ecr.*.amazonaws.com'] },
  ];

  it('keeps config order, execs every matching provider and names the deciding pattern', () => {
    const selections = selectProviders(providers, 'public.ecr.aws/nginx/nginx');
    assert.deepEqual(
      selections.map((s) => [s.provider.name, s.matched, s.firstMatch?.index]),
      [
        ['ecr', true, 1],
        ['hub', false, undefined],
        ['everything-ecr', true, 0],
      ],
    );
    assert.equal(selections[1]?.patterns[0]?.matches, false);
  });
});

// Research §8.2: keys added → lookup → result.
describe('Keyring: research §8.2 lookups', () => {
  const hits: [string, string][] = [
    ['https://hello.kubernetes.io', 'hello.kubernetes.io/foo/bar'],
    ['https://*.docker.io/v1/', 'prefix.docker.io/path:1111/foo/bar'],
    ['prefix.docker.io:1111', 'prefix.docker.io:1111/path/foo/bar'],
    ['https://quay.io/v1/', 'quay.io'],
    ['https://quay.io/v1/', 'quay.io/foo'],
    ['https://quay.io/v1/', 'quay.io/foo/bar'],
    ['*.dkr.ecr.us-east-1.amazonaws.com', '111122223333.dkr.ecr.us-east-1.amazonaws.com/app'],
  ];
  for (const [key, image] of hits) {
    it(`${key} applies to ${image}`, () => {
      const lookup = lookupAuthKeys([key], image);
      assert.equal(lookup.via, 'match');
      assert.deepEqual(
        lookup.entries.map((entry) => entry.key),
        [key],
      );
    });
  }

  const misses: [string, string][] = [
    ['https://*.docker.com', 'prefix.docker.io/foo/bar'],
    ['https://prefix.docker.c*', 'prefix.docker.io/foo/bar'],
    ['https://prefix.*.io/path:1111', 'prefix.docker.io/path/subpath:1111/foo/bar'],
  ];
  for (const [key, image] of misses) {
    it(`${key} does not apply to ${image}`, () => {
      assert.deepEqual(lookupAuthKeys([key], image), { entries: [], via: 'none' });
    });
  }

  const keyring = new Keyring<string>();
  keyring.add([
    ['bar.example.com/pong', 'grace'],
    ['bar.example.com', 'ada'],
  ]);
  const specific: [string, string[]][] = [
    ['bar.example.com', ['ada']],
    ['bar.example.com/pong', ['grace', 'ada']],
    ['bar.example.com/ping', ['ada']],
    ['bar.example.com/pongz', ['grace', 'ada']],
    ['bar.example.com/pong/pang', ['grace', 'ada']],
    ['example.com', []],
    ['foo.example.com', []],
  ];
  for (const [image, expected] of specific) {
    it(`bar.example.com/pong=grace, bar.example.com=ada: ${image} → [${expected.join(', ')}]`, () => {
      assert.deepEqual(
        keyring.lookup(image).entries.map((entry) => entry.value),
        expected,
      );
    });
  }

  it('index.docker.io serves docker.io/library/nginx through the Docker Hub fallback', () => {
    const lookup = lookupAuthKeys(['index.docker.io'], 'docker.io/library/nginx');
    assert.equal(lookup.via, 'docker-hub-fallback');
    assert.deepEqual(
      lookup.entries.map((entry) => entry.storedKey),
      [DEFAULT_REGISTRY_HOST],
    );
  });
});

describe('Keyring: order and fallback', () => {
  it('tries keys in reverse byte order: longer paths and literal labels before "*"', () => {
    const lookup = lookupAuthKeys(
      [
        '*.dkr.ecr.us-east-1.amazonaws.com',
        '123456789012.dkr.ecr.us-east-1.amazonaws.com',
        '123456789012.dkr.ecr.us-east-1.amazonaws.com/team',
        '123456789012.dkr.ecr.us-east-1.amazonaws.com/team/app',
        'public.ecr.aws',
      ],
      '123456789012.dkr.ecr.us-east-1.amazonaws.com/team/app',
    );
    assert.deepEqual(
      lookup.entries.map((entry) => entry.key),
      [
        '123456789012.dkr.ecr.us-east-1.amazonaws.com/team/app',
        '123456789012.dkr.ecr.us-east-1.amazonaws.com/team',
        '123456789012.dkr.ecr.us-east-1.amazonaws.com',
        '*.dkr.ecr.us-east-1.amazonaws.com',
      ],
    );
  });

  it('keeps every entry of a key stored twice, earlier provider first', () => {
    const keyring = new Keyring<string>();
    keyring.add([['quay.io', 'first provider']]);
    keyring.add([['https://quay.io/v2/', 'second provider']]);
    assert.deepEqual(keyring.index, ['quay.io']);
    assert.deepEqual(
      keyring.lookup('quay.io/org/app').entries.map((entry) => [entry.key, entry.value]),
      [
        ['quay.io', 'first provider'],
        ['https://quay.io/v2/', 'second provider'],
      ],
    );
  });

  it('uses index.docker.io only when no key matched', () => {
    const lookup = lookupAuthKeys(
      ['index.docker.io', 'docker.io/library'],
      'docker.io/library/nginx',
    );
    assert.equal(lookup.via, 'match');
    assert.deepEqual(
      lookup.entries.map((entry) => entry.key),
      ['docker.io/library'],
    );
    assert.equal(lookupAuthKeys(['docker.io'], 'docker.io/library/nginx').via, 'match');
  });

  it('stores https://index.docker.io/v1/ as index.docker.io, so the fallback finds it', () => {
    const lookup = lookupAuthKeys(['https://index.docker.io/v1/'], 'docker.io/myorg/app');
    assert.equal(lookup.via, 'docker-hub-fallback');
    assert.deepEqual(
      lookup.entries.map((entry) => entry.key),
      ['https://index.docker.io/v1/'],
    );
  });

  it('does not fall back for images of other registries', () => {
    assert.equal(lookupAuthKeys(['index.docker.io'], 'quay.io/org/app').via, 'none');
    assert.equal(lookupAuthKeys(['index.docker.io'], 'localhost:5000/app').via, 'none');
  });

  it('drops keys Go cannot parse, as the kubelet does', () => {
    const keyring = new Keyring<number>();
    keyring.add([
      ['bad host', 1],
      ['registry.io:port', 2],
      ['registry.io', 3],
    ]);
    assert.deepEqual(keyring.index, ['registry.io']);
    assert.deepEqual(
      keyring.dropped.map((dropped) => dropped.key),
      ['bad host', 'registry.io:port'],
    );
  });
});

// isDefaultRegistryMatch vectors (research §8.2).
describe('isDefaultRegistryMatch', () => {
  const cases: [string, boolean][] = [
    ['foo/bar', true],
    ['docker.io/foo/bar', true],
    ['index.docker.io/foo/bar', true],
    ['foo', true],
    ['', false],
    ['registry.tld/foo/bar', false],
    ['registry:5000/foo/bar', false],
    ['myhostdocker.io/foo/bar', false],
  ];
  for (const [image, expected] of cases) {
    it(`${JSON.stringify(image)} → ${expected}`, () => {
      assert.equal(isDefaultRegistryMatch(image), expected);
    });
  }
});

// Research §8.3: what the plugin receives (and what matchImages and auth keys are matched against).
describe('kubeletImageName: research §8.3', () => {
  const digest = `sha256:${'a'.repeat(64)}`;
  const cases: [string, string][] = [
    ['nginx', 'docker.io/library/nginx'],
    ['nginx:1.27', 'docker.io/library/nginx'],
    [`nginx@${digest}`, 'docker.io/library/nginx'],
    ['myorg/app:v1', 'docker.io/myorg/app'],
    [
      '123456789012.dkr.ecr.us-east-1.amazonaws.com/team/app:v1',
      '123456789012.dkr.ecr.us-east-1.amazonaws.com/team/app',
    ],
    ['localhost:5000/app:dev', 'localhost:5000/app'],
    ['public.ecr.aws/nginx/nginx:stable', 'public.ecr.aws/nginx/nginx'],
    ['index.docker.io/library/nginx:1.27', 'docker.io/library/nginx'],
  ];
  for (const [image, expected] of cases) {
    it(`${image} → ${expected}`, () => {
      assert.equal(kubeletImageName(image), expected);
    });
  }

  it('keeps the port, so a port-less pattern does not select the provider', () => {
    const name = kubeletImageName('localhost:5000/app:dev');
    assert.equal(
      selectProviders([{ name: 'p', matchImages: ['localhost'] }], name)[0]?.matched,
      false,
    );
    assert.equal(
      selectProviders([{ name: 'p', matchImages: ['localhost:5000'] }], name)[0]?.matched,
      true,
    );
  });
});

describe('goUrlParseError: Go url.Parse("https://" + text)', () => {
  const valid = [
    '*.dkr.ecr.*.amazonaws.com',
    'registry.io:5000/path',
    'registry.io:',
    '[::1]:5000',
    'user:pass@registry.io',
    'reg[0-9].io',
    'quay.i?',
    'registry.io/a b',
    'registry.io/%41',
    '',
    'https://registry.io',
    // the authority ends at the first "/", so this is host "us" and path "/er@registry.io"
    'us/er@registry.io',
  ];
  for (const text of valid) {
    it(`accepts ${JSON.stringify(text)}`, () => {
      assert.equal(goUrlParseError(text), undefined);
    });
  }
  const invalid: [string, RegExp][] = [
    ['registry io', /invalid character " " in host name/],
    ['registry.io:abc', /invalid port ":abc" after host/],
    ['reg^.io', /invalid character "\^" in host name/],
    ['reg{a}.io', /invalid character "\{" in host name/],
    ['reg%41.io', /invalid URL escape "%41"/],
    ['registry.io/%zz', /invalid URL escape "%zz"/],
    ['registry.io/a\tb', /invalid control character in URL/],
    ['[::1', /missing '\]' in host/],
    ['us er@registry.io', /invalid userinfo/],
  ];
  for (const [text, message] of invalid) {
    it(`rejects ${JSON.stringify(text)}`, () => {
      assert.match(goUrlParseError(text) ?? '', message);
      assert.equal(splitSchemeless(text), undefined);
    });
  }
});

describe('properties', () => {
  const label = fc.stringMatching(/^[a-z0-9]([a-z0-9-]{0,6}[a-z0-9])?$/);
  const labels = fc.array(label, { minLength: 1, maxLength: 5 });
  const port = fc.integer({ min: 1, max: 65535 });
  const path = fc
    .array(fc.stringMatching(/^[a-z0-9._-]{1,8}$/), { maxLength: 3 })
    .map((parts) => parts.map((part) => `/${part}`).join(''));

  it('a literal pattern always matches itself, as matchImages and as an auth key', () => {
    fc.assert(
      fc.property(labels, fc.option(port, { nil: undefined }), path, (host, p, suffix) => {
        const pattern = `${host.join('.')}${p === undefined ? '' : `:${p}`}${suffix}`;
        assert.equal(
          selectProviders([{ name: 'p', matchImages: [pattern] }], pattern)[0]?.matched,
          true,
        );
        assert.deepEqual(
          lookupAuthKeys([pattern], pattern).entries.map((entry) => entry.key),
          [pattern],
        );
      }),
      { numRuns: 500 },
    );
  });

  it('adding a port to only one side never matches, even with wildcard labels', () => {
    fc.assert(
      fc.property(
        labels,
        port,
        path,
        fc.boolean(),
        fc.boolean(),
        (host, p, suffix, wild, onPattern) => {
          const globHost = wild ? host.map(() => '*').join('.') : host.join('.');
          const pattern = onPattern ? `${globHost}:${p}` : globHost;
          const target = `${host.join('.')}${onPattern ? '' : `:${p}`}${suffix}`;
          assert.equal(
            selectProviders([{ name: 'p', matchImages: [pattern] }], target)[0]?.matched,
            false,
          );
          assert.equal(lookupAuthKeys([pattern], target).entries.length, 0);
          assert.match(explainUrlsMatch(pattern, target).reason, /^ports differ/);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('a pattern with a different number of host labels never matches', () => {
    fc.assert(
      fc.property(labels, labels, path, fc.boolean(), (host, other, suffix, wild) => {
        fc.pre(other.length !== host.length);
        const pattern = wild ? other.map(() => '*').join('.') : other.join('.');
        const target = `${host.join('.')}${suffix}`;
        assert.equal(
          selectProviders([{ name: 'p', matchImages: [pattern] }], target)[0]?.matched,
          false,
        );
        assert.equal(lookupAuthKeys([pattern], target).entries.length, 0);
        assert.match(explainUrlsMatch(pattern, target).reason, /^host label counts differ/);
      }),
      { numRuns: 500 },
    );
  });

  it('lookup returns matching keys in reverse byte order, each exactly when urlsMatch says so', () => {
    const key = fc.oneof(
      labels.map((l) => l.join('.')),
      fc.tuple(labels, path).map(([l, p]) => `${l.join('.')}${p}`),
      labels.map((l) => ['*', ...l.slice(1)].join('.')),
    );
    fc.assert(
      fc.property(fc.uniqueArray(key, { maxLength: 8 }), key, (keys, image) => {
        const lookup = lookupAuthKeys(keys, image);
        const matched = lookup.entries.map((entry) => entry.storedKey);
        const expected = keys
          .filter((k) => urlsMatch(k, image))
          .sort()
          .reverse();
        if (lookup.via === 'match') assert.deepEqual(matched, expected);
        // Anything other than a match must mean that no key matched.
        else assert.deepEqual(expected, []);
      }),
      { numRuns: 500 },
    );
  });

  it('explainUrlsMatch never disagrees with urlsMatch on arbitrary text', () => {
    const text = fc.string({ unit: fc.constantFrom(...'ab.*?[]^-\\:/@#%0 '), maxLength: 20 });
    fc.assert(
      fc.property(text, text, (pattern, target) => {
        assert.equal(explainUrlsMatch(pattern, target).matches, urlsMatch(pattern, target));
      }),
      { numRuns: 3000 },
    );
  });
});
