import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { normalizeAuthKey, urlsMatch } from '#shared/kubelet/url-glob.ts';

// The kubelet's matchImages / credential key matching (pkg/credentialprovider/keyring.go URLsMatch).
const VECTORS: [string, string, boolean][] = [
  ['*.kubernetes.io', 'prefix.kubernetes.io', true],
  ['prefix.*.io', 'prefix.kubernetes.io', true],
  ['prefix.kubernetes.*', 'prefix.kubernetes.io', true],
  ['*-good.kubernetes.io', 'prefix-good.kubernetes.io', true],
  ['*.kubernetes.io/blah', 'prefix.kubernetes.io/blah', true],
  ['prefix.*.io/foo', 'prefix.kubernetes.io/foo/bar', true],
  ['*.kubernetes.io:1111/blah', 'prefix.kubernetes.io:1111/blah', true],
  ['prefix.*.io:1111/foo', 'prefix.kubernetes.io:1111/foo/bar', true],
  ['*.kubernetes.io', 'kubernetes.io', false],
  ['*.*.kubernetes.io', 'prefix.kubernetes.io', false],
  ['*.*.kubernetes.io', 'kubernetes.io', false],
  ['kubernetes.io', 'kubernetes.com', false],
  ['k*.io', 'quay.io', false],
  ['*.kubernetes.io:1234/blah', 'prefix.kubernetes.io:1111/blah', false],
  ['prefix.*.io/foo', 'prefix.kubernetes.io:1111/foo/bar', false],
  ['*.dkr.ecr.*.amazonaws.com', '123456789012.dkr.ecr.us-east-1.amazonaws.com/team/app', true],
  ['*.dkr.ecr.*.amazonaws.com', '123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn/app', false],
  ['*.dkr.ecr.*.amazonaws.com.cn', '123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn/app', true],
  ['*.dkr.ecr.*.amazonaws.cn', '123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn/app', false],
  ['*.dkr.ecr.*.amazonaws.com', '123456789012.dkr.ecr-fips.us-gov-west-1.amazonaws.com/app', false],
  ['*.dkr-ecr.*.on.aws', '123456789012.dkr-ecr.us-west-2.on.aws/app', true],
  ['*.dkr.ecr.*.on.aws', '123456789012.dkr-ecr.us-west-2.on.aws/app', false],
  ['*.dkr.ecr.*.amazonaws.com', '123456789012.dkr.ecr.us-east-1.amazonaws.com:443/app', false],
  ['registry.io', 'registry.io:5000/app', false],
  ['registry.io:8080/path', 'registry.io:8080/path/img', true],
  ['public.ecr.aws', 'public.ecr.aws/docker/library/nginx', true],
  ['public.ecr.aws', 'ecr-public.aws.com/docker/library/nginx', false],
  ['registry.io/foo', 'registry.io/foobar', true],
  ['registry.io/*', 'registry.io/foo', false],
  ['*.io', 'gcr.io', true],
  ['*.io', 'k8s.gcr.io', false],
  ['*', 'docker.io/library/nginx', false],
  ['quay.i?', 'quay.io', false],
  ['app*.k8s.io', 'app1.k8s.io', true],
  // filepath.Match character classes inside one label
  ['reg[0-9].io', 'reg7.io', true],
  ['reg[^0-9].io', 'reg7.io', false],
  ['reg[^0-9].io', 'regx.io', true],
  ['reg[a-c].io', 'regd.io', false],
  ['reg\\x.io', 'regx.io', true],
  // malformed patterns match nothing and never throw
  ['reg[.io', 'reg[.io', false],
  ['reg[z-a].io', 'regm.io', false],
  ['reg\\', 'reg', false],
];

describe('urlsMatch', () => {
  for (const [pattern, target, expected] of VECTORS) {
    test(`${pattern} ${expected ? 'matches' : 'does not match'} ${target}`, () => {
      assert.equal(urlsMatch(pattern, target), expected);
    });
  }

  test('a literal host pattern matches itself and every target that extends its path', () => {
    const label = fc.stringMatching(/^[a-z0-9]([a-z0-9-]{0,6}[a-z0-9])?$/);
    const host = fc.array(label, { minLength: 1, maxLength: 4 }).map((labels) => labels.join('.'));
    const path = fc
      .array(fc.stringMatching(/^[a-z0-9._-]{1,8}$/), { maxLength: 3 })
      .map((parts) => parts.map((p) => `/${p}`).join(''));
    fc.assert(
      fc.property(
        host,
        fc.option(fc.integer({ min: 1, max: 65535 }), { nil: undefined }),
        path,
        path,
        (h, port, prefix, rest) => {
          const pattern = `${h}${port === undefined ? '' : `:${port}`}${prefix}`;
          assert.equal(urlsMatch(pattern, pattern), true);
          assert.equal(urlsMatch(pattern, pattern + rest), true);
          if (port === undefined)
            assert.equal(urlsMatch(pattern, `${h}:1${prefix}`), false, 'a port must match');
        },
      ),
    );
  });
});

describe('normalizeAuthKey', () => {
  const keys: [string, string][] = [
    ['https://index.docker.io/v1/', 'index.docker.io'],
    ['https://*.docker.io/v1/', '*.docker.io'],
    ['prefix.docker.io:1111', 'prefix.docker.io:1111'],
    ['http://quay.io/v2/foo', 'quay.io/foo'],
    ['registry.io/team', 'registry.io/team'],
    ['https://registry.io/', 'registry.io'],
    ['https://hello.kubernetes.io', 'hello.kubernetes.io'],
  ];
  for (const [key, expected] of keys) {
    test(`${key} → ${expected}`, () => {
      assert.equal(normalizeAuthKey(key), expected);
    });
  }

  test('a /v1/ key still matches images of its host', () => {
    assert.equal(
      urlsMatch(normalizeAuthKey('https://*.docker.io/v1/'), 'prefix.docker.io/foo/bar'),
      true,
    );
  });
});
