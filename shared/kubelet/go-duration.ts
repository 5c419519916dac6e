// Go durations (time.ParseDuration), which metav1.Duration fields use.
//
//   duration := [ "-" | "+" ] ( "0" | ( number unit )+ )
//   number   := digit+ [ "." digit* ] | "." digit+
//   unit     := "ns" | "us" | "µs" (U+00B5) | "μs" (U+03BC) | "ms" | "s" | "m" | "h"
// The value must fit a signed 64-bit count of nanoseconds; fractions are scaled in float64 as Go does.

export class GoDurationError extends Error {
  override readonly name = 'GoDurationError';
}

const NANOS_PER_UNIT: Readonly<Record<string, bigint>> = {
  ns: 1n,
  us: 1_000n,
  '\u00b5s': 1_000n,
  '\u03bcs': 1_000n,
  ms: 1_000_000n,
  s: 1_000_000_000n,
  m: 60_000_000_000n,
  h: 3_600_000_000_000n,
};
const UINT63 = 1n << 63n;

function isDigit(c: string | undefined): boolean {
  return c !== undefined && c >= '0' && c <= '9';
}

// time's quote(): control and non-ASCII characters as \xHH of their UTF-8 bytes.
function goQuote(text: string): string {
  let out = '"';
  for (const c of text) {
    const code = c.codePointAt(0) as number;
    if (code < 0x20 || code >= 0x80) {
      for (const byte of Buffer.from(c, 'utf8')) out += `\\x${byte.toString(16).padStart(2, '0')}`;
    } else out += c === '"' || c === '\\' ? `\\${c}` : c;
  }
  return `${out}"`;
}

/** time.ParseDuration: nanoseconds as a bigint; throws GoDurationError with Go's message. */
export function parseGoDuration(text: string): bigint {
  const quoted = goQuote(text);
  const invalid = () => new GoDurationError(`time: invalid duration ${quoted}`);
  let s = text;
  let negative = false;
  if (s[0] === '-' || s[0] === '+') {
    negative = s[0] === '-';
    s = s.slice(1);
  }
  if (s === '0') return 0n;
  if (s === '') throw invalid();
  let total = 0n;
  while (s !== '') {
    if (!(s[0] === '.' || isDigit(s[0]))) throw invalid();
    let i = 0;
    let whole = 0n;
    while (isDigit(s[i])) {
      if (whole > UINT63 / 10n) throw invalid();
      whole = whole * 10n + BigInt(s.charCodeAt(i) - 48);
      if (whole > UINT63) throw invalid();
      i++;
    }
    const hasWhole = i > 0;
    s = s.slice(i);
    let fraction = 0n;
    let scale = 1;
    let hasFraction = false;
    if (s[0] === '.') {
      s = s.slice(1);
      i = 0;
      let overflow = false;
      // Digits past what fits are consumed but ignored, as leadingFraction does.
      while (isDigit(s[i])) {
        if (!overflow) {
          const next = fraction * 10n + BigInt(s.charCodeAt(i) - 48);
          if (fraction > (UINT63 - 1n) / 10n || next > UINT63) overflow = true;
          else {
            fraction = next;
            scale *= 10;
          }
        }
        i++;
      }
      hasFraction = i > 0;
      s = s.slice(i);
    }
    if (!hasWhole && !hasFraction) throw invalid();
    i = 0;
    while (i < s.length && s[i] !== '.' && !isDigit(s[i])) i++;
    if (i === 0) throw new GoDurationError(`time: missing unit in duration ${quoted}`);
    const unitText = s.slice(0, i);
    s = s.slice(i);
    const unit = Object.hasOwn(NANOS_PER_UNIT, unitText) ? NANOS_PER_UNIT[unitText] : undefined;
    if (unit === undefined) {
      throw new GoDurationError(`time: unknown unit ${goQuote(unitText)} in duration ${quoted}`);
    }
    if (whole > UINT63 / unit) throw invalid();
    let value = whole * unit;
    if (fraction > 0n) {
      value += BigInt(Math.trunc(Number(fraction) * (Number(unit) / scale)));
      if (value > UINT63) throw invalid();
    }
    total += value;
    if (total > UINT63) throw invalid();
  }
  if (negative) return -total;
  if (total > UINT63 - 1n) throw invalid();
  return total;
}

/** Like parseGoDuration, but returns the error. */
export function tryParseGoDuration(text: string): bigint | GoDurationError {
  try {
    return parseGoDuration(text);
  } catch (error) {
    if (error instanceof GoDurationError) return error;
    throw error;
  }
}

function fractionDigits(value: bigint, precision: number): { rest: bigint; text: string } {
  const divisor = 10n ** BigInt(precision);
  const digits = (value % divisor).toString().padStart(precision, '0').replace(/0+$/, '');
  return { rest: value / divisor, text: digits === '' ? '' : `.${digits}` };
}

/** time.Duration.String(): "1h2m3.5s", "300ms", "1.5µs", "0s". */
export function formatGoDuration(nanoseconds: bigint): string {
  const sign = nanoseconds < 0n ? '-' : '';
  const u = nanoseconds < 0n ? -nanoseconds : nanoseconds;
  if (u === 0n) return '0s';
  if (u < 1_000_000_000n) {
    const [precision, unit] =
      u < 1_000n ? [0, 'ns'] : u < 1_000_000n ? [3, '\u00b5s'] : ([6, 'ms'] as const);
    const { rest, text } = fractionDigits(u, precision);
    return `${sign}${rest}${text}${unit}`;
  }
  const { rest: seconds, text } = fractionDigits(u, 9);
  const minutes = seconds / 60n;
  const hours = minutes / 60n;
  const tail = `${seconds % 60n}${text}s`;
  if (minutes === 0n) return `${sign}${tail}`;
  if (hours === 0n) return `${sign}${minutes % 60n}m${tail}`;
  return `${sign}${hours}h${minutes % 60n}m${tail}`;
}
