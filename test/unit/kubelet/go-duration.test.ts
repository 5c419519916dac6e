import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  formatGoDuration,
  GoDurationError,
  parseGoDuration,
  tryParseGoDuration,
} from '#shared/kubelet/go-duration.ts';

// time.ParseDuration vectors (Go's time_test.go parseDurationTests, plus the forms kubelet configs use).
const NS = 1n;
const US = 1_000n;
const MS = 1_000_000n;
const S = 1_000_000_000n;
const M = 60n * S;
const H = 60n * M;

const VALID: [string, bigint][] = [
  ['0', 0n],
  ['+0', 0n],
  ['-0', 0n],
  ['5s', 5n * S],
  ['30s', 30n * S],
  ['1478s', 1478n * S],
  ['-5s', -5n * S],
  ['+5s', 5n * S],
  ['-0s', 0n],
  ['5.0s', 5n * S],
  ['5.6s', 5n * S + 600n * MS],
  ['5.s', 5n * S],
  ['.5s', 500n * MS],
  ['1.0s', S],
  ['1.00s', S],
  ['1.004s', S + 4n * MS],
  ['1.0040s', S + 4n * MS],
  ['100.00100s', 100n * S + MS],
  ['10ns', 10n * NS],
  ['11us', 11n * US],
  ['12\u00b5s', 12n * US],
  ['12\u03bcs', 12n * US],
  ['13ms', 13n * MS],
  ['14s', 14n * S],
  ['15m', 15n * M],
  ['16h', 16n * H],
  ['3h30m', 3n * H + 30n * M],
  ['10.5s4m', 4n * M + 10n * S + 500n * MS],
  ['-2m3.4s', -(2n * M + 3n * S + 400n * MS)],
  ['1h2m3s4ms5us6ns', H + 2n * M + 3n * S + 4n * MS + 5n * US + 6n * NS],
  ['39h9m14.425s', 39n * H + 9n * M + 14n * S + 425n * MS],
  ['52763797000ns', 52763797000n * NS],
  ['0.3333333333333333333h', 20n * M],
  ['9007199254740993ns', (1n << 53n) + 1n],
  ['9223372036854775807ns', (1n << 63n) - 1n],
  ['9223372036.854775807s', (1n << 63n) - 1n],
  ['-9223372036854775808ns', -(1n << 63n)],
  ['-9223372036.854775808s', -(1n << 63n)],
  ['0.100000000000000000000h', 6n * M],
  ['0.830103483285477580700h', 49n * M + 48n * S + 372539827n * NS],
  // the forms CredentialProviderConfig and plugin responses use
  ['12h', 12n * H],
  ['1h2m3.5s', H + 2n * M + 3n * S + 500n * MS],
  ['300ms', 300n * MS],
  ['1.5h', H + 30n * M],
  ['6h0m0s', 6n * H],
  ['90m', 90n * M],
  ['0s', 0n],
];

const INVALID: [string, string][] = [
  ['', 'time: invalid duration ""'],
  ['3', 'time: missing unit in duration "3"'],
  ['-', 'time: invalid duration "-"'],
  ['s', 'time: invalid duration "s"'],
  ['.', 'time: invalid duration "."'],
  ['-.', 'time: invalid duration "-."'],
  ['.s', 'time: invalid duration ".s"'],
  ['+.s', 'time: invalid duration "+.s"'],
  ['1d', 'time: unknown unit "d" in duration "1d"'],
  ['12 hours', 'time: unknown unit " hours" in duration "12 hours"'],
  ['1h 30m', 'time: unknown unit "h " in duration "1h 30m"'],
  ['1H', 'time: unknown unit "H" in duration "1H"'],
  ['\u0000', 'time: invalid duration "\\x00"'],
  ['1\u00b5', 'time: unknown unit "\\xc2\\xb5" in duration "1\\xc2\\xb5"'],
  ['9223372036854775808ns', 'time: invalid duration "9223372036854775808ns"'],
  ['9223372036854775.808us', 'time: invalid duration "9223372036854775.808us"'],
  ['9223372036854ms775us808ns', 'time: invalid duration "9223372036854ms775us808ns"'],
  ['-9223372036854775809ns', 'time: invalid duration "-9223372036854775809ns"'],
  ['3000000h', 'time: invalid duration "3000000h"'],
  ['--5s', 'time: invalid duration "--5s"'],
];

describe('parseGoDuration', () => {
  for (const [text, expected] of VALID) {
    it(`parses ${JSON.stringify(text)}`, () => {
      assert.equal(parseGoDuration(text), expected);
    });
  }
  for (const [text, message] of INVALID) {
    it(`rejects ${JSON.stringify(text)} with Go's message`, () => {
      assert.throws(() => parseGoDuration(text), { name: 'GoDurationError', message });
      assert.ok(tryParseGoDuration(text) instanceof GoDurationError);
    });
  }
});

// time.Duration.String vectors (Go's durationTests).
const FORMATS: [bigint, string][] = [
  [0n, '0s'],
  [1n * NS, '1ns'],
  [1100n * NS, '1.1\u00b5s'],
  [2200n * US, '2.2ms'],
  [3300n * MS, '3.3s'],
  [4n * M + 5n * S, '4m5s'],
  [4n * M + 5001n * MS, '4m5.001s'],
  [5n * H + 6n * M + 7001n * MS, '5h6m7.001s'],
  [8n * M + 1n * NS, '8m0.000000001s'],
  [(1n << 63n) - 1n, '2562047h47m16.854775807s'],
  [-(1n << 63n), '-2562047h47m16.854775808s'],
  [12n * H, '12h0m0s'],
  [-5n * S, '-5s'],
];

describe('formatGoDuration', () => {
  for (const [value, text] of FORMATS) {
    it(`formats ${value}ns as ${text}`, () => {
      assert.equal(formatGoDuration(value), text);
    });
  }

  it('round-trips through parseGoDuration', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: -(1n << 63n), max: (1n << 63n) - 1n }), (value) => {
        assert.equal(parseGoDuration(formatGoDuration(value)), value);
      }),
      { numRuns: 2000 },
    );
  });

  it('never throws anything but GoDurationError on arbitrary text', () => {
    const text = fc.string({
      unit: fc.constantFrom(...'0123456789.+-hmsun\u00b5 d'),
      maxLength: 16,
    });
    fc.assert(
      fc.property(text, (input) => {
        const result = tryParseGoDuration(input);
        assert.ok(typeof result === 'bigint' || result instanceof GoDurationError);
      }),
      { numRuns: 3000 },
    );
  });
});
