import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { JsonListIndexer, jsonListIndexer } from '#shared/input/json-index.ts';
import {
  JsonCursor,
  JsonSyntaxError,
  NeedMoreInput,
  positionsOf,
  projection,
} from '#shared/input/json-projection.ts';

// The structural index must read lists exactly as JsonCursor does: the same values, the same items
// complete, and the same first error at the same offset. JsonCursor is the reference here.

interface ListReading {
  outcome: 'closed' | 'incomplete' | 'failed';
  items: unknown[];
  /** Offset just after the last separator or the closing bracket. */
  consumed: number;
  error?: { reason: string; offset: number };
}

function withCursor(text: Buffer, atListStart: boolean, final: boolean): ListReading {
  const cursor = new JsonCursor(text, 0, text.length, final);
  const reading: ListReading = { outcome: 'incomplete', items: [], consumed: 0 };
  let pending: unknown[] = [];
  let first = true;
  try {
    for (;;) {
      const next = cursor.peek();
      if (first && atListStart && next === 0x5d) {
        cursor.pos++;
        reading.outcome = 'closed';
        reading.consumed = cursor.pos;
        return reading;
      }
      if (next === -1 && !final && !first && pending.length === 0) return reading;
      first = false;
      pending = [cursor.value(true)];
      const after = cursor.peek();
      if (after === 0x2c || after === 0x5d) {
        cursor.pos++;
        reading.items.push(...pending);
        pending = [];
        reading.consumed = cursor.pos;
        if (after === 0x5d) {
          reading.outcome = 'closed';
          return reading;
        }
      } else if (after === -1 && !final) {
        return reading;
      } else {
        cursor.fail(
          after === -1 ? 'unexpected end of input' : 'expected "," or "]" between list items',
        );
      }
    }
  } catch (error) {
    if (error instanceof NeedMoreInput) return reading;
    if (!(error instanceof JsonSyntaxError)) throw error;
    reading.outcome = 'failed';
    reading.error = { reason: error.reason, offset: error.offset };
    return reading;
  }
}

function withIndex(text: Buffer, atListStart: boolean, final: boolean): ListReading {
  const scan = jsonListIndexer().scanList(text, atListStart, final);
  const reading: ListReading = { outcome: scan.outcome, items: [], consumed: 0 };
  const last = scan.outcome === 'closed' ? scan.end : scan.separator;
  let item = 0;
  while (item <= last) {
    if (item === scan.end) break;
    reading.items.push(scan.json.value(item, true));
    item = scan.json.next + 1;
  }
  if (last >= 0) reading.consumed = scan.json.offset(last) + 1;
  if (scan.error !== undefined) reading.error = { ...scan.error };
  return reading;
}

function agree(text: string | Buffer, atListStart = true, final = true): ListReading {
  const bytes = typeof text === 'string' ? Buffer.from(text) : text;
  const expected = withCursor(bytes, atListStart, final);
  const actual = withIndex(bytes, atListStart, final);
  const label = JSON.stringify(bytes.toString('latin1').slice(0, 200));
  if (expected.outcome === 'failed') {
    assert.equal(actual.outcome, 'failed', `outcome for ${label}`);
    assert.deepEqual(actual.error, expected.error, `error for ${label}`);
    // Items before the error are still delivered.
    assert.deepStrictEqual(actual.items, expected.items, `items for ${label}`);
  } else {
    assert.deepStrictEqual(actual, expected, `reading of ${label}`);
  }
  return actual;
}

describe('JsonListIndexer', () => {
  test('reads values of every kind as JsonCursor does', () => {
    const reading = agree(
      '{"a": 1, "b": [true, false, null, -0.5e+3, 0, "x\\u00e9\\n\\"y"], "__proto__": {"p": 1}}, ' +
        '"plain", "caf\u00e9", 12, [], {}, [[[]]], {"a": 1, "a": 2}]',
    );
    assert.equal(reading.outcome, 'closed');
    assert.equal(reading.items.length, 8);
    assert.equal(Object.getPrototypeOf(reading.items[0]), Object.prototype);
  });

  test('stops at the same first error, at the same offset', () => {
    for (const text of [
      '{"a" 1}]',
      '{"a": 1 "b": 2}]',
      '{"a": 1,}]',
      '[1, 2,]]',
      '{"a": tru}]',
      '{"a": nul}]',
      '{"a": falsy}]',
      '{"a": truex}]',
      '{"a": 01}]',
      '{"a": -}]',
      '{"a": 1.}]',
      '{"a": 1e}]',
      '{"a": 1e+}]',
      '{"a": "x\ty"}]',
      '{"a": "x\\qy"}]',
      '{"a": "x\\u12G4"}]',
      '{"a": "x"y}]',
      '{"a": 1"b"}]',
      '{1: 2}]',
      '{"a": 1} {"b": 2}]',
      '{"a": 1}, ]',
      '{"a": \\"x"}]',
      '{"a": @}]',
      '{"a": "\u0001"}]',
      // Form feed and 0x1a share a low nibble with `,` and `:`: they are neither operators nor blanks.
      '{"a": 1\u000c}]',
      '{"a":\u001a1}]',
      '{"a": "x\u000cy"}]',
      '{"a": "x\u001a"}]',
      '{"a": 1}\u000c]',
      `{"deep": ${'['.repeat(1001)}${']'.repeat(1001)}}]`,
      '{"a": 1}',
      '{"a": "open',
      '',
    ]) {
      const reading = agree(text);
      assert.equal(reading.outcome, 'failed', `expected an error for ${JSON.stringify(text)}`);
    }
  });

  test('a partial input ends at the last complete item and says where', () => {
    const text = '{"a": 1}, {"b": 2}, {"c": "unfinished';
    const reading = agree(text, true, false);
    assert.equal(reading.outcome, 'incomplete');
    assert.deepEqual(reading.items, [{ a: 1 }, { b: 2 }]);
    assert.equal(reading.consumed, text.indexOf(', {"c"') + 1);
    for (const cut of ['{"a": 12', '{"a": tr', '{"a": "x\\u00', '{"a": 1}, ', '{"a": 1} ']) {
      assert.equal(agree(cut, true, false).outcome, 'incomplete', cut);
    }
  });

  test('an empty list, and items after a separator', () => {
    assert.deepEqual(agree('  ]').items, []);
    assert.equal(agree(']', false).outcome, 'failed');
    assert.deepEqual(agree(' {"a": 1}]', false).items, [{ a: 1 }]);
  });

  test('projects objects and records positions as JsonCursor does', () => {
    const selection = projection(
      { name: true, containers: projection({ image: true }, { positions: ['image'] }) },
      { positions: ['name'] },
    );
    const text = Buffer.from(
      '{\n  "skip": {"x": [1, {"y": "z"}]},\n  "name": "web",\n  "containers": [\n    {"image": "a", "n": 1},\n    {"image":\n "b"}\n  ]\n}]',
    );
    const scan = jsonListIndexer().scanList(text, true, true);
    const fromIndex = scan.json.value(0, selection) as Record<string, unknown>;
    const cursor = new JsonCursor(text, 0, text.length, true);
    const fromCursor = cursor.value(selection) as Record<string, unknown>;
    assert.deepStrictEqual(fromIndex, fromCursor);
    assert.deepEqual(positionsOf(fromIndex), positionsOf(fromCursor));
    const containers = fromIndex.containers as Record<string, unknown>[];
    assert.deepEqual(
      containers.map((container) => positionsOf(container)),
      (fromCursor.containers as Record<string, unknown>[]).map((container) =>
        positionsOf(container),
      ),
    );
    const quote = text.indexOf('"b"');
    assert.deepEqual(positionsOf(containers[1])?.image, {
      offset: quote,
      line: 6,
      lineStart: quote - 1,
    });
  });

  test('input that ends before the bytes asked for is read as ended there', () => {
    const text = Buffer.from('{"a": 1}, {"b": 2}, {"c": 3}]');
    const cut = text.indexOf('{"c"') + 3;
    const scan = jsonListIndexer().scanInto(
      text.length,
      (input) => {
        input.set(text.subarray(0, cut));
        return cut;
      },
      true,
      false,
    );
    assert.equal(scan.outcome, 'failed');
    assert.deepEqual(scan.error, { reason: 'unexpected end of input', offset: cut });
    assert.equal(scan.json.offset(scan.separator), text.indexOf(', {"c"'));
  });

  test('finds escaped keys wherever they fall among the 64-byte blocks of the input', () => {
    const selection = projection({ name: true, image: true });
    for (let pad = 0; pad < 140; pad++) {
      // The escape lands before, on and after block boundaries, in keys that match and keys that do not.
      const text = Buffer.from(
        `{"p": "${'x'.repeat(pad)}", "na\\u006de": "web", "ima\\u0067e": "a", "im\\"x": 1}]`,
      );
      const scan = jsonListIndexer().scanList(text, true, true);
      const fromIndex = scan.json.value(0, selection);
      const fromCursor = new JsonCursor(text, 0, text.length, true).value(selection);
      assert.deepStrictEqual(fromIndex, { name: 'web', image: 'a' }, `padding ${pad}`);
      assert.deepStrictEqual(fromIndex, fromCursor, `padding ${pad}`);
    }
  });

  test('decodes multi-byte and escaped strings wherever they fall among the 64-byte blocks', () => {
    const selection = projection({ a: true, b: true, c: true, d: true });
    for (let pad = 0; pad < 140; pad++) {
      // A string of plain text beside each kind, so that a block's flags must not leak to its neighbours.
      const text = Buffer.from(
        `{"p": "${'x'.repeat(pad)}", "a": "caf\u00e9 \u{1f433}", "b": "plain", "c": "tab\\tq\\"", "d": "${'y'.repeat(pad % 70)}\u00fc"}]`,
      );
      const value = jsonListIndexer().scanList(text, true, true).json.value(0, selection);
      const expected = {
        a: 'caf\u00e9 \u{1f433}',
        b: 'plain',
        c: 'tab\tq"',
        d: `${'y'.repeat(pad % 70)}\u00fc`,
      };
      assert.deepStrictEqual(value, expected, `padding ${pad}`);
    }
  });

  test('an empty input on a fresh indexer is incomplete, or ended when nothing follows', () => {
    assert.equal(
      new JsonListIndexer().scanList(Buffer.alloc(0), true, false).outcome,
      'incomplete',
    );
    const ended = new JsonListIndexer().scanList(Buffer.alloc(0), true, true);
    assert.deepEqual(ended.error, { reason: 'unexpected end of input', offset: 0 });
  });

  test('gives the line of every offset, asked in order or not, across 64-byte blocks', () => {
    /** Line (0-based) and line start of `offset`, counted byte by byte. */
    const naive = (text: Buffer, offset: number) => {
      let line = 0;
      let lineStart = 0;
      for (let at = 0; at < offset; at++) {
        if (text[at] === 0x0a) {
          line++;
          lineStart = at + 1;
        }
      }
      return { offset, line, lineStart };
    };
    const check = (body: string, origin = { offset: 0, line: 0, lineStart: 0 }) => {
      const text = Buffer.from(body);
      const json = jsonListIndexer().scanList(text, true, true, origin).json;
      const offsets = [...Array(text.length + 1).keys()];
      // Forwards, then backwards (each step back restarts the count), then shuffled.
      const shuffled = [...offsets].sort((a, b) => ((a * 7919) % 101) - ((b * 7919) % 101));
      for (const order of [offsets, [...offsets].reverse(), shuffled]) {
        for (const offset of order) {
          const expected = naive(text, offset);
          assert.deepEqual(
            json.position(offset),
            {
              offset: origin.offset + offset,
              line: origin.line + expected.line,
              lineStart:
                expected.line === 0 ? origin.lineStart : origin.offset + expected.lineStart,
            },
            `offset ${offset} of ${JSON.stringify(body.slice(0, 40))}`,
          );
        }
      }
    };
    check('{"a": 1}]');
    check('\n\n\n{"a":\n1}\n]\n');
    check(`{"long": "${'x'.repeat(300)}"}, {"b": [\n${'  \n'.repeat(70)}]},\r\n{"c": 2}]`);
    check(`{"a": "${'y'.repeat(63)}"},\n{"b": "${'z'.repeat(127)}"}\n]`);
    // After a larger input with many lines, one of exactly two blocks: the count after its last
    // block must be its own, not what the larger one left in memory.
    check(`{"many": [${'\n1,'.repeat(400)}1]}]`);
    const twoBlocks = `{"a":\n"${'x'.repeat(117)}"}\n]`;
    assert.equal(Buffer.byteLength(twoBlocks), 128);
    check(twoBlocks);
    // A slice of a larger input: positions count on from where the slice starts.
    const origin = { offset: 1000, line: 40, lineStart: 990 };
    check('{"a":\n 1}]', origin);
    const json = jsonListIndexer().scanList(Buffer.from('{"a":\n 1}]'), true, true, origin).json;
    assert.deepEqual(json.position(2), { offset: 1002, line: 40, lineStart: 990 });
    assert.deepEqual(json.position(8), { offset: 1008, line: 41, lineStart: 1006 });
    fc.assert(
      fc.property(
        fc.array(
          fc.constantFrom('{"k": 1}', '"s"', '\n', '\r\n', ' '.repeat(61), `"${'w'.repeat(70)}"`),
          {
            maxLength: 30,
          },
        ),
        (parts) => {
          const items = parts.filter((part) => part.trim() !== '');
          const spaces = parts.filter((part) => part.trim() === '');
          // Items separated by commas, each followed by some of the whitespace drawn.
          check(`${items.map((item, at) => `${item}${spaces[at] ?? ''}`).join(',')}]`);
        },
      ),
      { numRuns: 60 },
    );
  });

  test('property: random lists read the same, whole, cut short or damaged', () => {
    const layouts = fc.constantFrom(undefined, 0, 1, 2, 4);
    fc.assert(
      fc.property(
        fc.array(fc.jsonValue({ maxDepth: 4 }), { maxLength: 6 }),
        layouts,
        fc.boolean(),
        (items, indent, atListStart) => {
          const body = JSON.stringify(items, null, indent).slice(1);
          const text = atListStart ? body : body.replace(/^\s*/, '');
          agree(text, atListStart, true);
          agree(text.slice(0, Math.floor(text.length / 2)), atListStart, false);
        },
      ),
      { numRuns: 300 },
    );
    fc.assert(
      fc.property(
        fc.array(fc.jsonValue({ maxDepth: 3 }), { minLength: 1, maxLength: 4 }),
        fc.nat(),
        fc.constantFrom(...'"\\{}[]:,\n\r\t\u0001\u000c\u001a\u00e9 x0-.eEtfnu'.split('')),
        fc.constantFrom('insert', 'replace', 'delete'),
        fc.boolean(),
        (items, where, byte, edit, final) => {
          const text = JSON.stringify(items, null, 1).slice(1);
          const at = where % (text.length + 1);
          const damaged =
            edit === 'insert'
              ? text.slice(0, at) + byte + text.slice(at)
              : edit === 'replace'
                ? text.slice(0, at) + byte + text.slice(at + 1)
                : text.slice(0, at) + text.slice(at + 1);
          agree(damaged, true, final);
        },
      ),
      { numRuns: 2000 },
    );
  });

  test('regions larger than the last one grow the memory and still read', () => {
    const big = `${Array.from({ length: 20_000 }, (_, index) => JSON.stringify({ index, name: `n${index}` })).join(',')}]`;
    const reading = agree(big);
    assert.equal(reading.items.length, 20_000);
    assert.deepEqual(reading.items[19_999], { index: 19_999, name: 'n19999' });
  });
});
