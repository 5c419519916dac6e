import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  getBooleanFromEnv,
  getNumberFromEnv,
  getStringFromEnv,
  InvalidEnvironmentVariableError,
  MissingEnvironmentVariableError,
} from '#shared/runtime/env.ts';

type Env = Record<string, string | undefined>;

const KEY = 'PULLWARDEN_SETTING';

function isMissing(variable: string) {
  return (error: unknown): boolean => {
    assert.ok(error instanceof MissingEnvironmentVariableError, `got ${String(error)}`);
    assert.equal(error.name, 'MissingEnvironmentVariableError');
    assert.equal(error.variable, variable);
    assert.equal(error.message, `environment variable ${variable} is required but not set`);
    return true;
  };
}

/** The error names the variable and never repeats the value, which may be a secret. */
function isInvalid(variable: string, value: string) {
  return (error: unknown): boolean => {
    assert.ok(error instanceof InvalidEnvironmentVariableError, `got ${String(error)}`);
    assert.equal(error.name, 'InvalidEnvironmentVariableError');
    assert.equal(error.variable, variable);
    assert.ok(error.message.includes(variable), error.message);
    assert.ok(!error.message.includes(value), `"${error.message}" leaks "${value}"`);
    assert.ok(!error.message.includes(value.trim()), `"${error.message}" leaks "${value}"`);
    return true;
  };
}

// Values that are missing in every helper: absent, undefined, empty or blank.
const MISSING: [string, Env][] = [
  ['absent', {}],
  ['set for another variable only', { OTHER: 'x' }],
  ['undefined', { [KEY]: undefined }],
  ['empty', { [KEY]: '' }],
  ['blank', { [KEY]: ' \t\n ' }],
];

describe('getStringFromEnv', () => {
  const cases: [string, Env, string | undefined, string][] = [
    ['returns the value', { [KEY]: 'table-1' }, undefined, 'table-1'],
    ['trims surrounding whitespace', { [KEY]: '  table-1 \n' }, undefined, 'table-1'],
    ['prefers the value to the default', { [KEY]: 'table-1' }, 'fallback', 'table-1'],
    ['uses the default when absent', {}, 'fallback', 'fallback'],
    ['uses the default when blank', { [KEY]: '   ' }, 'fallback', 'fallback'],
    ['uses an empty-string default as given', {}, '', ''],
  ];
  for (const [behaviour, env, defaultValue, expected] of cases) {
    it(behaviour, () => {
      const options =
        defaultValue === undefined ? { key: KEY, env } : { key: KEY, env, defaultValue };
      assert.equal(getStringFromEnv(options), expected);
    });
  }

  for (const [what, env] of MISSING) {
    it(`throws MissingEnvironmentVariableError naming the variable when it is ${what}`, () => {
      assert.throws(() => getStringFromEnv({ key: KEY, env }), isMissing(KEY));
    });
  }

  it('reads the env it is given, not process.env', () => {
    assert.ok(process.env.PATH !== undefined);
    assert.throws(() => getStringFromEnv({ key: 'PATH', env: {} }), isMissing('PATH'));
  });
});

describe('getNumberFromEnv', () => {
  type Bounds = { min?: number; max?: number; defaultValue?: number };
  const accepted: [string, Env, Bounds, number][] = [
    ['parses an integer', { [KEY]: '42' }, {}, 42],
    ['parses a trimmed value', { [KEY]: ' 7 ' }, {}, 7],
    ['parses a negative decimal', { [KEY]: '-3.5' }, {}, -3.5],
    ['parses exponent notation', { [KEY]: '1e3' }, {}, 1000],
    ['prefers a zero value to the default', { [KEY]: '0' }, { defaultValue: 5 }, 0],
    ['uses the default when absent', {}, { defaultValue: 7 }, 7],
    ['uses a zero default when absent', {}, { defaultValue: 0 }, 0],
    ['uses the default when blank', { [KEY]: '  ' }, { defaultValue: 7 }, 7],
    ['accepts the lower bound', { [KEY]: '0' }, { min: 0, max: 10 }, 0],
    ['accepts the upper bound', { [KEY]: '10' }, { min: 0, max: 10 }, 10],
  ];
  for (const [behaviour, env, bounds, expected] of accepted) {
    it(behaviour, () => {
      assert.equal(getNumberFromEnv({ key: KEY, env, ...bounds }), expected);
    });
  }

  const invalid: [string, string, Bounds, RegExp][] = [
    ['a word', 'sk-live-4f9a8b7c', {}, /must be a number$/],
    ['trailing garbage', '12abc', {}, /must be a number$/],
    ['NaN', 'NaN', {}, /must be a number$/],
    ['Infinity', 'Infinity', {}, /must be a number$/],
    ['-Infinity', '-Infinity', {}, /must be a number$/],
    ['above the maximum', '11', { min: 0, max: 10 }, /must be a number between 0 and 10$/],
    ['below the minimum', '-1', { min: 0, max: 10 }, /must be a number between 0 and 10$/],
    ['below a lone minimum', '-5', { min: 1 }, /must be a number between 1 and Infinity$/],
    ['above a lone maximum', '99999', { max: 65535 }, /between -Infinity and 65535$/],
  ];
  for (const [what, value, bounds, message] of invalid) {
    it(`rejects ${what} with an error that names the variable but not the value`, () => {
      assert.throws(
        () => getNumberFromEnv({ key: KEY, env: { [KEY]: value }, ...bounds }),
        (error: unknown) => isInvalid(KEY, value)(error) && message.test((error as Error).message),
      );
    });
  }

  for (const [what, env] of MISSING) {
    it(`throws MissingEnvironmentVariableError naming the variable when it is ${what}`, () => {
      assert.throws(() => getNumberFromEnv({ key: KEY, env, min: 0 }), isMissing(KEY));
    });
  }

  it('never echoes a value it cannot parse', () => {
    const secret = fc
      .string({ minLength: 1, maxLength: 40 })
      .map((tail) => `secret-${tail}`)
      .filter((value) => !Number.isFinite(Number(value.trim())));
    fc.assert(
      fc.property(secret, (value) => {
        assert.throws(
          () => getNumberFromEnv({ key: KEY, env: { [KEY]: value } }),
          isInvalid(KEY, value),
        );
      }),
    );
  });
});

describe('getBooleanFromEnv', () => {
  const accepted: [string, boolean][] = [
    ['true', true],
    ['TRUE', true],
    ['True', true],
    ['1', true],
    ['yes', true],
    ['YES', true],
    ['on', true],
    [' on ', true],
    ['false', false],
    ['FALSE', false],
    ['0', false],
    ['no', false],
    ['off', false],
    ['Off', false],
    ['\tfalse\n', false],
  ];
  for (const [value, expected] of accepted) {
    it(`reads ${JSON.stringify(value)} as ${expected}`, () => {
      assert.equal(getBooleanFromEnv({ key: KEY, env: { [KEY]: value } }), expected);
    });
  }

  const defaults: [string, Env, boolean, boolean][] = [
    ['uses a false default when absent', {}, false, false],
    ['uses a true default when absent', {}, true, true],
    ['uses the default when blank', { [KEY]: '  ' }, false, false],
    ['prefers the value to the default', { [KEY]: 'no' }, true, false],
  ];
  for (const [behaviour, env, defaultValue, expected] of defaults) {
    it(behaviour, () => {
      assert.equal(getBooleanFromEnv({ key: KEY, env, defaultValue }), expected);
    });
  }

  for (const value of ['ture', 'yep', '2', 'enabled', 'sk-live-4f9a8b7c', 'true!']) {
    it(`rejects ${JSON.stringify(value)} with an error that names the variable but not the value`, () => {
      assert.throws(
        () => getBooleanFromEnv({ key: KEY, env: { [KEY]: value } }),
        (error: unknown) =>
          isInvalid(KEY, value)(error) && /must be true or false$/.test((error as Error).message),
      );
    });
  }

  for (const [what, env] of MISSING) {
    it(`throws MissingEnvironmentVariableError naming the variable when it is ${what}`, () => {
      assert.throws(() => getBooleanFromEnv({ key: KEY, env }), isMissing(KEY));
    });
  }

  it('never echoes a value it cannot read as a boolean', () => {
    const spellings = new Set(['true', '1', 'yes', 'on', 'false', '0', 'no', 'off']);
    const secret = fc
      .string({ minLength: 1, maxLength: 40 })
      .map((tail) => `secret-${tail}`)
      .filter((value) => !spellings.has(value.trim().toLowerCase()));
    fc.assert(
      fc.property(secret, (value) => {
        assert.throws(
          () => getBooleanFromEnv({ key: KEY, env: { [KEY]: value } }),
          isInvalid(KEY, value),
        );
      }),
    );
  });
});
