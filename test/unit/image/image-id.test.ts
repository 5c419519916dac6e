import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { parseRunningImageId, type RunningImageId } from '#shared/image/image-id.ts';
import { ImageReferenceError } from '#shared/image/reference.ts';
import { assertReferenceError, short } from '../../support/image-reference.ts';

const HEX = 'ab'.repeat(32);
const SHA = `sha256:${HEX}`;

describe('parseRunningImageId: the shapes runtimes report', () => {
  const cases: [string, RunningImageId | undefined][] = [
    [
      `docker-pullable://nginx@${SHA}`,
      { digest: SHA, repository: 'docker.io/library/nginx', kind: 'repo-digest' },
    ],
    [`docker://${SHA}`, { digest: SHA, repository: undefined, kind: 'image-id' }],
    [`ghcr.io/a/b@${SHA}`, { digest: SHA, repository: 'ghcr.io/a/b', kind: 'repo-digest' }],
    [
      `docker.io/library/nginx@${SHA}`,
      { digest: SHA, repository: 'docker.io/library/nginx', kind: 'repo-digest' },
    ],
    [
      `localhost:5000/app@${SHA}`,
      { digest: SHA, repository: 'localhost:5000/app', kind: 'repo-digest' },
    ],
    [
      `docker-pullable://myorg/app:v1@${SHA}`,
      { digest: SHA, repository: 'docker.io/myorg/app', kind: 'repo-digest' },
    ],
    [
      `quay.io/x/y@sha512:${'c'.repeat(128)}`,
      { digest: `sha512:${'c'.repeat(128)}`, repository: 'quay.io/x/y', kind: 'repo-digest' },
    ],
    [SHA, { digest: SHA, repository: undefined, kind: 'image-id' }],
    ['', undefined],
  ];
  for (const [input, expected] of cases) {
    it(`reads ${short(input)} as ${expected === undefined ? 'not started' : expected.kind}`, () => {
      assert.deepEqual(parseRunningImageId(input), expected);
    });
  }
});

describe('parseRunningImageId: garbage', () => {
  // input → [offset into the text as the runtime wrote it, part of the reason]
  const cases: [string, number, string][] = [
    ['not-a-digest', 12, 'expected ":"'],
    [`docker://sha256:${HEX.slice(2)}`, 16, 'must have 64 hex digits'],
    [`docker://${SHA.toUpperCase()}`, 9, 'unsupported digest algorithm'],
    [`nginx@md5:${'a'.repeat(32)}`, 6, 'unsupported digest algorithm "md5"'],
    [`Bad Name@${SHA}`, 0, 'lowercase'],
    [`docker-pullable://Bad@${SHA}`, 18, 'lowercase'],
    ['docker-pullable://nginx', 23, 'expected ":"'],
    [`docker-pullable://nginx@sha256:${HEX.toUpperCase()}`, 31, 'lowercase'],
    [`nginx@${SHA}@${SHA}`, 77, 'digest'],
  ];
  for (const [input, offset, reason] of cases) {
    it(`rejects ${short(input)} at offset ${offset} of the original text`, () => {
      assert.throws(
        () => parseRunningImageId(input),
        (error: unknown) => {
          assertReferenceError(error, { input, offset, reason });
          return true;
        },
      );
    });
  }
});

describe('parseRunningImageId: properties', () => {
  const hex64 = fc.string({
    unit: fc.constantFrom(...'0123456789abcdef'),
    minLength: 64,
    maxLength: 64,
  });
  // [as written, as normalised]
  const repository = fc
    .tuple(
      fc.constantFrom(
        '',
        'docker.io/',
        'index.docker.io/',
        'ghcr.io/',
        'localhost:5000/',
        '[::1]:5000/',
      ),
      fc.array(fc.stringMatching(/^[a-z0-9]{1,8}$/), { minLength: 1, maxLength: 3 }),
    )
    .map(([registry, path]): [string, string] => {
      const written = registry + path.join('/');
      if (registry !== '' && registry !== 'docker.io/' && registry !== 'index.docker.io/')
        return [written, written];
      return [written, `docker.io/${path.length === 1 ? 'library/' : ''}${path.join('/')}`];
    });
  const scheme = fc.constantFrom('docker-pullable://', 'docker://', 'containerd://', '');

  it('reads any scheme + repo@digest as a repo digest of the normalised repository', () => {
    fc.assert(
      fc.property(scheme, repository, hex64, (prefix, [written, normalised], hex) => {
        assert.deepEqual(parseRunningImageId(`${prefix}${written}@sha256:${hex}`), {
          digest: `sha256:${hex}`,
          repository: normalised,
          kind: 'repo-digest',
        });
      }),
    );
  });

  it('reads any scheme + bare digest as a runtime-local image ID', () => {
    fc.assert(
      fc.property(scheme, hex64, (prefix, hex) => {
        assert.deepEqual(parseRunningImageId(`${prefix}sha256:${hex}`), {
          digest: `sha256:${hex}`,
          repository: undefined,
          kind: 'image-id',
        });
      }),
    );
  });

  it('either parses arbitrary text or throws an ImageReferenceError pointing inside it', () => {
    const text = fc.oneof(
      fc.string({ maxLength: 80 }),
      fc
        .tuple(scheme, fc.string({ unit: fc.constantFrom(...'ab:/@sha256f.-A'), maxLength: 70 }))
        .map(([prefix, rest]) => prefix + rest),
    );
    fc.assert(
      fc.property(text, (input) => {
        try {
          parseRunningImageId(input);
        } catch (error) {
          assert.ok(error instanceof ImageReferenceError, `threw ${String(error)}`);
          assert.equal(error.input, input);
          assert.ok(error.offset >= 0 && error.offset <= input.length, `offset ${error.offset}`);
        }
      }),
      { numRuns: 2000 },
    );
  });
});
