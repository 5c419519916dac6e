import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import {
  JsonCursor,
  JsonSyntaxError,
  NeedMoreInput,
  type Projection,
  type ProjectionSpec,
  positionsOf,
  projection,
} from '#shared/input/json-projection.ts';

/** Parses a whole text the way JSON.parse does: one value, then only whitespace. */
function parseWhole(text: string, selection: Projection | 'skip' = true): unknown {
  const bytes = Buffer.from(text, 'utf8');
  const cursor = new JsonCursor(bytes, 0, bytes.length, true);
  const value = cursor.value(selection === 'skip' ? undefined : selection);
  if (cursor.peek() !== -1) cursor.fail('unexpected data after the JSON value');
  return value;
}

function syntaxError(text: string): JsonSyntaxError {
  try {
    parseWhole(text);
  } catch (error) {
    assert.ok(error instanceof JsonSyntaxError, `expected JsonSyntaxError, got ${String(error)}`);
    return error;
  }
  assert.fail(`expected ${JSON.stringify(text)} to be rejected`);
}

/** Reference semantics of a projection, applied to an already parsed value. */
function project(value: unknown, selection: Projection | ProjectionSpec): unknown {
  if (selection === true) return value;
  const spec = selection as ProjectionSpec & { entries?: unknown };
  if (Array.isArray(value)) return value.map((item) => project(item, selection));
  if (typeof value !== 'object' || value === null) return value;
  const out: Record<string, unknown> = {};
  for (const [key, child] of Object.entries(value as Record<string, unknown>)) {
    const sub = Object.hasOwn(spec, key)
      ? spec[key]
      : Object.hasOwn(spec, '*')
        ? spec['*']
        : undefined;
    if (sub !== undefined) out[key] = project(child, sub as ProjectionSpec);
  }
  return out;
}

describe('JsonCursor: full values', () => {
  const valid = [
    '0',
    '-0',
    '1.5e-3',
    '-12.25E+2',
    '"plain"',
    '"esc \\" \\\\ \\/ \\b \\f \\n \\r \\t \\u00e9 \\ud83d\\ude00"',
    '"ünïcödé ✓"',
    'true',
    'false',
    'null',
    '[]',
    '{}',
    ' [ 1 , 2 , [ 3 ] , { "a" : [ ] } ] ',
    '{"a":{"b":{"c":[1,{"d":null}]}},"e":"f"}',
    '{"dup":1,"dup":2}',
    '{"__proto__":{"polluted":true}}',
    '\n\t\r {"k": "v"}\n',
  ];
  for (const text of valid) {
    test(`parses ${JSON.stringify(text)} like JSON.parse`, () => {
      assert.deepStrictEqual(parseWhole(text), JSON.parse(text));
    });
  }

  test('a __proto__ key becomes an own property, not the prototype', () => {
    const value = parseWhole('{"__proto__":{"polluted":true}}') as Record<string, unknown>;
    assert.equal(Object.getPrototypeOf(value), Object.prototype);
    assert.deepEqual(Object.keys(value), ['__proto__']);
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
  });
});

describe('JsonCursor: syntax errors name the line and column', () => {
  const invalid: [string, string, number, number][] = [
    // text, reason fragment, 1-based line, 1-based column
    ['{"a":1,}', 'expected a string key', 1, 8],
    ['[1,]', 'expected a JSON value', 1, 4],
    ['{"a" 1}', 'expected ":"', 1, 6],
    ['{\n  "a": tru\n}', 'invalid literal', 2, 8],
    ['"abc', 'unexpected end of input', 1, 5],
    ['"a\tb"', 'unescaped control character', 1, 3],
    ['"\\x"', 'invalid escape', 1, 2],
    ['"\\u12G4"', 'invalid \\u escape', 1, 6],
    ['01', 'unexpected data after the JSON value', 1, 2],
    ['1.', 'unexpected end of input', 1, 3],
    ['1.e5', 'expected a digit after "."', 1, 3],
    ['-', 'unexpected end of input', 1, 2],
    ['1e', 'unexpected end of input', 1, 3],
    ['[1 2]', 'expected "," or "]"', 1, 4],
    ['{"a":1 "b":2}', 'expected "," or "}"', 1, 8],
    ["{'a':1}", 'expected a string key', 1, 2],
    ['NaN', 'expected a JSON value', 1, 1],
    ['', 'unexpected end of input', 1, 1],
    ['{}{}', 'unexpected data after the JSON value', 1, 3],
  ];
  for (const [text, reason, line, column] of invalid) {
    test(`rejects ${JSON.stringify(text)}`, () => {
      assert.throws(() => JSON.parse(text));
      const error = syntaxError(text);
      assert.match(error.reason, new RegExp(reason.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
      assert.equal(error.line + 1, line, 'line');
      assert.equal(error.offset - error.lineStart + 1, column, 'column');
    });
  }

  test('rejects nesting deeper than the limit instead of overflowing the stack', () => {
    const deep = `${'['.repeat(5000)}${']'.repeat(5000)}`;
    assert.match(syntaxError(deep).reason, /nesting deeper than/);
  });
});

describe('JsonCursor: projections', () => {
  const spec = {
    kind: true,
    metadata: { name: true, labels: true },
    spec: { containers: { name: true, image: true } },
  } satisfies ProjectionSpec;
  const node = projection(spec);

  test('keeps only selected fields, applying array projections to each element', () => {
    const text = JSON.stringify({
      kind: 'Pod',
      apiVersion: 'v1',
      metadata: { name: 'a', uid: 'x', labels: { app: 'a', tier: { nested: [1, 2] } } },
      spec: {
        containers: [{ name: 'c', image: 'nginx', env: [{ name: 'A' }] }, { image: 'redis' }],
      },
      status: { phase: 'Running' },
    });
    assert.deepStrictEqual(parseWhole(text, node), {
      kind: 'Pod',
      metadata: { name: 'a', labels: { app: 'a', tier: { nested: [1, 2] } } },
      spec: { containers: [{ name: 'c', image: 'nginx' }, { image: 'redis' }] },
    });
  });

  test('matches keys written with escapes by their decoded text', () => {
    assert.deepStrictEqual(parseWhole('{"k\\u0069nd":"Pod","other":1}', node), { kind: 'Pod' });
  });

  test('records the line and column of positioned values', () => {
    const container = projection({ image: true }, { positions: ['image'] });
    const pod = projection({ spec: { containers: container } });
    const text =
      '{\n  "spec": {\n    "containers": [\n      {"name": "x",\n        "image":   "nginx:1.27"}\n    ]\n  }\n}';
    const value = parseWhole(text, pod) as { spec: { containers: object[] } };
    const position = positionsOf(value.spec.containers[0]);
    assert.ok(position?.image);
    assert.equal(position.image.line + 1, 5);
    assert.equal(position.image.offset - position.image.lineStart + 1, 20);
    assert.equal(text.split('\n')[4]?.slice(19, 31), '"nginx:1.27"');
  });

  test('property: a projected parse equals the projection of JSON.parse', () => {
    const keys = fc.constantFrom(
      'kind',
      'metadata',
      'name',
      'labels',
      'spec',
      'containers',
      'image',
      'x',
      '',
      'toString',
      '__proto__',
    );
    const value = fc.letrec((tie) => ({
      node: fc.oneof(
        { depthSize: 'small' },
        fc.jsonValue({ maxDepth: 1 }),
        fc.array(tie('node'), { maxLength: 4 }),
        fc.dictionary(keys, tie('node'), { maxKeys: 5 }),
      ),
    })).node;
    fc.assert(
      fc.property(value, (input) => {
        const text = JSON.stringify(input);
        assert.deepStrictEqual(parseWhole(text, node), project(JSON.parse(text), spec));
      }),
      { numRuns: 300 },
    );
  });
});

describe('JsonCursor: agrees with JSON.parse', () => {
  test('property: any JSON value in any indentation parses to the same value', () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.constantFrom(0, 1, 2, 4, '\t'), (input, indent) => {
        const text = Buffer.from(JSON.stringify(input, null, indent), 'utf8').toString('utf8');
        assert.deepStrictEqual(parseWhole(text), JSON.parse(text));
      }),
      { numRuns: 500 },
    );
  });

  test('property: mutated JSON is rejected exactly when JSON.parse rejects it', () => {
    const mutation = fc.record({
      position: fc.nat(),
      remove: fc.nat({ max: 3 }),
      insert: fc.constantFrom(
        '',
        '"',
        ',',
        '}',
        ']',
        '{',
        '[',
        ':',
        '\\',
        '0',
        '-',
        'e',
        '.',
        ' ',
        '\n',
        '\u0001',
        'x',
      ),
    });
    fc.assert(
      fc.property(
        fc.jsonValue({ maxDepth: 3 }),
        mutation,
        (input, { position, remove, insert }) => {
          const original = JSON.stringify(input, null, 1);
          const at = position % (original.length + 1);
          const text = Buffer.from(
            original.slice(0, at) + insert + original.slice(at + remove),
            'utf8',
          ).toString('utf8');
          let expected: unknown;
          let accepted = true;
          try {
            expected = JSON.parse(text);
          } catch {
            accepted = false;
          }
          if (accepted) {
            assert.deepStrictEqual(parseWhole(text), expected);
            parseWhole(text, 'skip');
          } else {
            assert.throws(() => parseWhole(text), JsonSyntaxError);
            assert.throws(() => parseWhole(text, 'skip'), JsonSyntaxError);
          }
        },
      ),
      { numRuns: 2000 },
    );
  });

  test('property: a prefix of valid JSON asks for more input and never reports a syntax error', () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.nat(), (input, cut) => {
        const bytes = Buffer.from(JSON.stringify(input, null, 2), 'utf8');
        const end = cut % (bytes.length + 1);
        const cursor = new JsonCursor(bytes, 0, end, false);
        try {
          const value = cursor.value(true);
          // Only a value that closed before the cut can complete.
          assert.deepStrictEqual(value, JSON.parse(bytes.toString('utf8')));
        } catch (error) {
          assert.ok(error instanceof NeedMoreInput, `prefix of ${end} bytes: ${String(error)}`);
        }
      }),
      { numRuns: 500 },
    );
  });
});
