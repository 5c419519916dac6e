import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { normalizeAuthKey, urlsMatch } from '#shared/kubelet/url-glob.ts';
import { URLS_MATCH_VECTORS } from '../../support/kubelet-vectors.ts';

// filepath.Match character classes inside one label
const CHARACTER_CLASSES: [string, string, boolean][] = [
  ['reg[0-9].io', 'reg7.io', true],
  ['reg[0-9].io', 'regx.io', false],
  ['reg[^0-9].io', 'reg7.io', false],
  ['reg[a-c].io', 'regb.io', true],
  ['reg[a-c].io', 'regd.io', false],
  ['reg[abc].io', 'regc.io', true],
  ['reg[0-9][0-9].io', 'reg42.io', true],
  ['reg[0-9][0-9].io', 'reg4.io', false],
];

// Malformed patterns are an error in filepath.Match, which the kubelet treats as no match; an empty range
// ("[z-a]") is legal there but matches nothing.
const MALFORMED: [string, string][] = [
  ['reg[.io', 'reg[.io'],
  ['reg[.io', 'regx.io'],
  ['reg[].io', 'reg].io'],
  ['reg[z-a].io', 'regm.io'],
  ['reg[a-].io', 'rega.io'],
  ['reg\\', 'reg'],
  ['[', '['],
];

describe('urlsMatch: kubelet vectors', () => {
  for (const [pattern, target, expected] of URLS_MATCH_VECTORS) {
    it(`${expected ? 'matches' : 'does not match'} ${target} against ${pattern}`, () => {
      assert.equal(urlsMatch(pattern, target), expected);
    });
  }
});

describe('urlsMatch: character classes', () => {
  for (const [pattern, target, expected] of CHARACTER_CLASSES) {
    it(`${expected ? 'matches' : 'does not match'} ${target} against ${pattern}`, () => {
      assert.equal(urlsMatch(pattern, target), expected);
    });
  }

  for (const [pattern, target] of MALFORMED) {
    it(`treats malformed ${pattern} as matching nothing, not even ${target}`, () => {
      assert.doesNotThrow(() => urlsMatch(pattern, target));
      assert.equal(urlsMatch(pattern, target), false);
    });
  }
});

describe('urlsMatch: properties', () => {
  const label = fc.stringMatching(/^[a-z0-9]([a-z0-9-]{0,6}[a-z0-9])?$/);
  const host = fc.array(label, { minLength: 1, maxLength: 4 }).map((labels) => labels.join('.'));
  const port = fc.option(fc.integer({ min: 1, max: 65535 }), { nil: undefined });
  const path = fc
    .array(fc.stringMatching(/^[a-z0-9._-]{1,8}$/), { maxLength: 3 })
    .map((parts) => parts.map((part) => `/${part}`).join(''));

  it('matches a literal host pattern against itself and any target that extends its path', () => {
    fc.assert(
      fc.property(host, port, path, path, (h, p, prefix, rest) => {
        const pattern = `${h}${p === undefined ? '' : `:${p}`}${prefix}`;
        assert.equal(urlsMatch(pattern, pattern), true);
        assert.equal(urlsMatch(pattern, pattern + rest), true);
      }),
      { numRuns: 500 },
    );
  });

  it('never matches when only the target has a port, or the ports differ', () => {
    fc.assert(
      fc.property(host, port, path, (h, p, suffix) => {
        const pattern = `${h}${p === undefined ? '' : `:${p}`}`;
        const other = p === undefined ? 1 : (p % 65535) + 1;
        assert.equal(urlsMatch(pattern, `${h}:${other}${suffix}`), false);
      }),
      { numRuns: 500 },
    );
  });

  it('matches every host with the same number of labels against an all-"*" pattern', () => {
    fc.assert(
      fc.property(host, path, (h, suffix) => {
        const labels = h.split('.');
        assert.equal(urlsMatch(labels.map(() => '*').join('.'), h + suffix), true);
        assert.equal(urlsMatch(['*', ...labels.map(() => '*')].join('.'), h + suffix), false);
      }),
      { numRuns: 500 },
    );
  });

  it('returns a boolean and never throws for arbitrary text on either side', () => {
    const text = fc.oneof(
      fc.string({ unit: 'binary', maxLength: 40 }),
      fc.string({ unit: fc.constantFrom(...'ab.*?[]^-\\:/@#%0 '), maxLength: 24 }),
    );
    fc.assert(
      fc.property(text, text, (pattern, target) => {
        assert.equal(typeof urlsMatch(pattern, target), 'boolean');
      }),
      { numRuns: 3000 },
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
    ['registry.io:5000/v2/', 'registry.io:5000'],
  ];
  for (const [key, expected] of keys) {
    it(`stores ${key} as ${expected}`, () => {
      assert.equal(normalizeAuthKey(key), expected);
    });
  }

  it('keeps a /v1/ key matching images of its host', () => {
    assert.equal(
      urlsMatch(normalizeAuthKey('https://*.docker.io/v1/'), 'prefix.docker.io/foo/bar'),
      true,
    );
  });
});

describe('urlsMatch refuses what the kubelet cannot parse', () => {
  const unparsable: [string, string][] = [
    ['reg[^0-9].io', 'regx.io'],
    ['reg\\x.io', 'regx.io'],
    ['registry.io:abc', 'registry.io:abc'],
    ['registry.io', 'registry.io:abc/app'],
    ['reg{a}.io', 'reg{a}.io'],
    ['reg%41.io', 'regA.io'],
  ];
  for (const [pattern, target] of unparsable) {
    it(`${pattern} never matches ${target}`, () => {
      assert.equal(urlsMatch(pattern, target), false);
    });
  }
});
