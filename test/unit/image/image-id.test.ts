import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseRunningImageId } from '#shared/image/image-id.ts';
import { ImageReferenceError } from '#shared/image/reference.ts';

const HEX = 'ab'.repeat(32);

describe('parseRunningImageId', () => {
  const cases: [string, ReturnType<typeof parseRunningImageId>][] = [
    [
      `docker-pullable://nginx@sha256:${HEX}`,
      { digest: `sha256:${HEX}`, repository: 'docker.io/library/nginx', kind: 'repo-digest' },
    ],
    [
      `docker://sha256:${HEX}`,
      { digest: `sha256:${HEX}`, repository: undefined, kind: 'image-id' },
    ],
    [
      `ghcr.io/a/b@sha256:${HEX}`,
      { digest: `sha256:${HEX}`, repository: 'ghcr.io/a/b', kind: 'repo-digest' },
    ],
    [
      `localhost:5000/app@sha256:${HEX}`,
      { digest: `sha256:${HEX}`, repository: 'localhost:5000/app', kind: 'repo-digest' },
    ],
    [`sha256:${HEX}`, { digest: `sha256:${HEX}`, repository: undefined, kind: 'image-id' }],
    ['', undefined],
    ['docker-pullable://', undefined],
  ];
  for (const [input, expected] of cases) {
    test(JSON.stringify(input.slice(0, 50)), () => {
      assert.deepEqual(parseRunningImageId(input), expected);
    });
  }

  for (const input of [
    'not-a-digest',
    `docker://sha256:${HEX.slice(2)}`,
    `nginx@md5:${'a'.repeat(32)}`,
    `Bad Name@sha256:${HEX}`,
  ]) {
    test(`rejects ${JSON.stringify(input.slice(0, 40))} with an offset into the original text`, () => {
      assert.throws(
        () => parseRunningImageId(input),
        (error: unknown) =>
          error instanceof ImageReferenceError &&
          error.input === input &&
          error.offset >= 0 &&
          error.offset <= input.length,
      );
    });
  }
});
