import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { warmSetDocument } from '#shared/prepull/warm-set-http.ts';
import type { WarmSetEntry } from '#shared/state/store.ts';

function entry(repository: string, tag: string | undefined, digestByte: string): WarmSetEntry {
  return {
    registry: 'registry.example.com',
    repository,
    ...(tag === undefined ? {} : { tag }),
    digest: `sha256:${digestByte.repeat(64)}`,
    reason: 'pushed',
    selectedBy: 'rule',
    firstRequestedAt: '2026-11-20T10:00:00.000Z',
    lastRequestedAt: '2026-11-20T10:00:00.000Z',
  };
}

describe('warm-set document', () => {
  test('lists images by UTF-16 code units, not by the locale', () => {
    // A locale's collation puts `v1` before `V2` and orders `_`, `-` and `.` its own way; agents compare
    // the ETag over this text, so the order must not depend on the machine that serves it.
    const entries = [
      entry('team/app_c', 'v1', 'c'),
      entry('team/app', 'v1', 'a'),
      entry('team/app-b', 'v1', 'b'),
      entry('team/app.a', 'v1', 'd'),
      entry('team/app', 'V2', 'e'),
      entry('team/app', undefined, 'f'),
    ];
    const listed = warmSetDocument('general', entries).images.map((image) => image.image);
    assert.deepEqual(listed, [
      `registry.example.com/team/app-b:v1@sha256:${'b'.repeat(64)}`,
      `registry.example.com/team/app.a:v1@sha256:${'d'.repeat(64)}`,
      `registry.example.com/team/app:V2@sha256:${'e'.repeat(64)}`,
      `registry.example.com/team/app:v1@sha256:${'a'.repeat(64)}`,
      `registry.example.com/team/app@sha256:${'f'.repeat(64)}`,
      `registry.example.com/team/app_c:v1@sha256:${'c'.repeat(64)}`,
    ]);
  });

  test('property: the document is the same whatever order the store returns entries in', () => {
    const repositories = fc.constantFrom('team/app', 'team/App', 'team/app-b', 'team/app.a', 'x');
    const tags = fc.option(fc.constantFrom('v1', 'V1', 'v1.0', 'v1-rc', 'latest'), {
      nil: undefined,
    });
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.tuple(repositories, tags, fc.constantFrom(...'0123456789abcdef')), {
          selector: ([repository, tag]) => `${repository}:${tag}`,
          maxLength: 12,
        }),
        fc.array(fc.nat()),
        (specs, draws) => {
          const entries = specs.map(([repository, tag, digest]) => entry(repository, tag, digest));
          // Fisher-Yates with the drawn numbers: any order the store could return them in.
          const shuffled = [...entries];
          for (let index = shuffled.length - 1; index > 0; index--) {
            const other = (draws[index] ?? index) % (index + 1);
            [shuffled[index], shuffled[other]] = [
              shuffled[other] as WarmSetEntry,
              shuffled[index] as WarmSetEntry,
            ];
          }
          assert.equal(
            JSON.stringify(warmSetDocument('general', shuffled)),
            JSON.stringify(warmSetDocument('general', entries)),
          );
        },
      ),
    );
  });
});
