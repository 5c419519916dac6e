import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createAdmissionWebhook } from '#shared/admission/http.ts';
import {
  clip,
  fitWarnings,
  MAX_WARNING_LENGTH,
  MAX_WARNINGS,
  MAX_WARNINGS_LENGTH,
  singleLine,
} from '#shared/admission/warnings.ts';
import {
  answerOf,
  container,
  dependencies,
  httpRequest,
  object,
  podSpec,
  review,
} from './reviews.ts';

// The API server turns warnings into `Warning: 299` headers: one line each, at most 256 characters
// before it cuts them, 4096 for all of them before it drops some.

const length = (text: string) => Array.from(text).length;

function assertWithinLimits(warnings: readonly string[]) {
  assert.ok(warnings.length <= MAX_WARNINGS, `${warnings.length} warnings`);
  assert.ok(warnings.reduce((sum, warning) => sum + length(warning), 0) <= MAX_WARNINGS_LENGTH);
  for (const warning of warnings) {
    assert.ok(length(warning) <= MAX_WARNING_LENGTH, warning);
    assert.doesNotMatch(warning, /\p{Cc}/u);
  }
}

describe('one warning', () => {
  test('control characters and line breaks become single spaces', () => {
    assert.equal(
      singleLine('PW003 container "a\r\nb":\tx\u0000y\u2028z  '),
      'PW003 container "a b": x y z',
    );
  });

  test('lone surrogates are replaced, so the header is valid UTF-8', () => {
    assert.equal(singleLine('image \ud800 here'), 'image \ufffd here');
  });

  test('clipping counts characters, not UTF-16 units, and marks the cut', () => {
    assert.equal(clip('short', 10), 'short');
    assert.equal(clip('abcdefghijk', 10), 'abcdefghi…');
    const emoji = '📦'.repeat(300);
    const clipped = clip(emoji, 256);
    assert.equal(length(clipped), 256);
    assert.ok(clipped.endsWith('📦…'));
  });
});

describe('many warnings', () => {
  test('everything that fits is sent as it is', () => {
    const lines = Array.from(
      { length: MAX_WARNINGS },
      (_, index) => `PW003 container "c${index}": x`,
    );
    assert.deepEqual(fitWarnings(lines), lines);
  });

  test('too many: the last warning counts what is left out', () => {
    const lines = Array.from({ length: 45 }, (_, index) => `PW003 container "c${index}": x`);
    const fitted = fitWarnings(lines);
    assert.equal(fitted.length, MAX_WARNINGS);
    assert.deepEqual(fitted.slice(0, -1), lines.slice(0, MAX_WARNINGS - 1));
    assert.equal(fitted.at(-1), `pullwarden: ${45 - (MAX_WARNINGS - 1)} more findings not shown`);
  });

  test('too long together: cut at 4096 characters, the count included', () => {
    const lines = Array.from(
      { length: 20 },
      (_, index) => `PW001 ${String(index).padStart(2, '0')} ${'x'.repeat(400)}`,
    );
    const fitted = fitWarnings(lines);
    assertWithinLimits(fitted);
    const kept = fitted.length - 1;
    assert.equal(fitted.at(-1), `pullwarden: ${20 - kept} more findings not shown`);
    assert.ok(kept >= 15, 'each warning is clipped to 256 first, so 15 fit');
    assert.ok(fitted.slice(0, -1).every((line) => line.endsWith('…')));
  });

  test('duplicates are sent once (the API server would drop them)', () => {
    assert.deepEqual(fitWarnings(['a', 'b', 'a', '', '\n']), ['a', 'b']);
  });
});

describe('warnings of a real review', () => {
  test('a pod with 60 findings stays within the limits and says how many are not shown', async () => {
    const containers = Array.from({ length: 60 }, (_, index) =>
      container(
        `worker-${String(index).padStart(2, '0')}`,
        `registry.example.com/some/rather/deeply/nested/team/repository/path/worker-${index}:1.${index}`,
        'IfNotPresent',
      ),
    );
    const response = await createAdmissionWebhook(dependencies())(
      httpRequest(review({ kind: 'Pod', object: object('Pod', podSpec(containers)) })),
    );
    const warnings = answerOf(response.body).response.warnings ?? [];
    assertWithinLimits(warnings);
    const shown = warnings.length - 1;
    assert.match(
      warnings.at(-1) ?? '',
      new RegExp(`^pullwarden: ${60 - shown} more findings not shown$`),
    );
    assert.ok(
      warnings.slice(0, -1).every((warning) => warning.startsWith('PW003 container "worker-')),
    );
  });

  test('names the API server has not validated yet cannot break the header', async () => {
    const response = await createAdmissionWebhook(dependencies())(
      httpRequest(
        review({
          kind: 'Pod',
          object: object(
            'Pod',
            podSpec([
              container(
                'api\nWarning: 299 - "forged"',
                'registry.example.com/api:1.4',
                'IfNotPresent',
              ),
            ]),
          ),
        }),
      ),
    );
    const warnings = answerOf(response.body).response.warnings ?? [];
    assertWithinLimits(warnings);
    assert.match(warnings[0] ?? '', /^PW003 container "api Warning: 299 - "forged"": /);
  });
});
