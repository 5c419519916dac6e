import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  getBooleanFromEnv,
  getNumberFromEnv,
  getStringFromEnv,
  InvalidEnvironmentVariableError,
  MissingEnvironmentVariableError,
} from '#shared/runtime/env.ts';

const SECRET = 's3cr3t-value';

describe('environment helpers', () => {
  test('strings: present, trimmed, defaulted, or missing by name', () => {
    assert.equal(getStringFromEnv({ key: 'A', env: { A: ' x ' } }), 'x');
    assert.equal(getStringFromEnv({ key: 'A', env: {}, defaultValue: 'd' }), 'd');
    assert.equal(
      getStringFromEnv({ key: 'A', env: { A: '   ' }, defaultValue: 'd' }),
      'd',
      'blank is missing',
    );
    assert.throws(
      () => getStringFromEnv({ key: 'TABLE_NAME', env: {} }),
      (error: unknown) => {
        assert.ok(error instanceof MissingEnvironmentVariableError);
        assert.equal(error.variable, 'TABLE_NAME');
        assert.match(error.message, /TABLE_NAME is required/);
        return true;
      },
    );
  });

  test('numbers: parsed, range-checked, and never echoed', () => {
    assert.equal(getNumberFromEnv({ key: 'N', env: { N: '42' } }), 42);
    assert.equal(getNumberFromEnv({ key: 'N', env: {}, defaultValue: 7 }), 7);
    for (const value of [SECRET, '', 'NaN', 'Infinity', '11']) {
      const env = { N: value };
      if (value === '') {
        assert.throws(
          () => getNumberFromEnv({ key: 'N', env, max: 10 }),
          MissingEnvironmentVariableError,
        );
        continue;
      }
      assert.throws(
        () => getNumberFromEnv({ key: 'N', env, min: 0, max: 10 }),
        (error: unknown) => {
          assert.ok(error instanceof InvalidEnvironmentVariableError);
          assert.match(error.message, /N must be a number between 0 and 10/);
          assert.ok(!error.message.includes(value));
          return true;
        },
      );
    }
  });

  test('booleans: the usual spellings, anything else is an error that hides the value', () => {
    for (const value of ['true', 'TRUE', '1', 'yes', 'on'])
      assert.equal(getBooleanFromEnv({ key: 'B', env: { B: value } }), true);
    for (const value of ['false', '0', 'no', 'Off'])
      assert.equal(getBooleanFromEnv({ key: 'B', env: { B: value } }), false);
    assert.equal(getBooleanFromEnv({ key: 'B', env: {}, defaultValue: true }), true);
    assert.throws(
      () => getBooleanFromEnv({ key: 'B', env: { B: SECRET } }),
      (error: unknown) => {
        assert.ok(error instanceof InvalidEnvironmentVariableError);
        assert.ok(!error.message.includes(SECRET));
        return true;
      },
    );
  });
});
