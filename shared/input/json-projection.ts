// A validating JSON parser that materialises only the fields a projection selects and records where
// selected values sit. Cluster dumps run to gigabytes; building every object with JSON.parse costs more
// than reading the bytes, while the evaluator needs a few dozen fields per object.
//
// It works on UTF-8 bytes, validates the whole grammar (skipped values included), and reports errors with
// line and column. It can stop at the end of an incomplete buffer (NeedMoreInput) so that callers can
// stream; progress is committed per complete value.

/** Select fields of an object (applied to each element of an array). `true` keeps the whole value. */
export type Projection = true | ProjectionNode;

export interface ProjectionSpec {
  readonly [key: string]: Projection | ProjectionSpec;
}

export interface ProjectionNode {
  readonly kind: 'projection';
  readonly entries: readonly ProjectionEntry[];
  /** Projection for keys not listed; undefined skips them. */
  readonly others: Projection | undefined;
  /** `entries` by the byte length of their key, for matching keys without decoding them. */
  readonly byLength: readonly (readonly ProjectionEntry[] | undefined)[];
}

export interface ProjectionEntry {
  readonly key: string;
  readonly bytes: Uint8Array;
  readonly hash: number;
  readonly projection: Projection;
  /** The value's position is recorded in the object's POSITIONS table. */
  readonly positioned: boolean;
}

/** Where a value starts: 0-based line relative to the parse origin and the offset of that line's start. */
export interface ValuePosition {
  readonly offset: number;
  readonly line: number;
  readonly lineStart: number;
}

/** Objects carry the positions of their positioned keys under this symbol (not cloned, not enumerated). */
export const POSITIONS: unique symbol = Symbol('pullwarden.positions');

export type PositionTable = Record<string, ValuePosition>;

export function positionsOf(value: unknown): PositionTable | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  return (value as { [POSITIONS]?: PositionTable })[POSITIONS];
}

const OTHERS = '*';

/**
 * Builds a projection: `projection({ metadata: { name: true }, spec: { containers: imageFields } })`.
 * The key `*` applies to every key not listed; `positions` names keys whose value position is recorded.
 */
export function projection(
  spec: ProjectionSpec,
  options: { positions?: readonly string[] } = {},
): ProjectionNode {
  const entries: ProjectionEntry[] = [];
  const positions = new Set(options.positions ?? []);
  let others: Projection | undefined;
  const encoder = new TextEncoder();
  for (const [key, value] of Object.entries(spec)) {
    const child: Projection = value === true || isProjectionNode(value) ? value : projection(value);
    if (key === OTHERS) {
      others = child;
      continue;
    }
    const bytes = encoder.encode(key);
    entries.push({
      key,
      bytes,
      hash: hashBytes(bytes, 0, bytes.length),
      projection: child,
      positioned: positions.has(key),
    });
  }
  const byLength: ProjectionEntry[][] = [];
  for (const entry of entries) {
    const sameLength = byLength[entry.bytes.length] ?? [];
    sameLength.push(entry);
    byLength[entry.bytes.length] = sameLength;
  }
  return {
    kind: 'projection',
    entries,
    others,
    byLength,
  };
}

function isProjectionNode(value: Projection | ProjectionSpec): value is ProjectionNode {
  return (
    (value as ProjectionNode).kind === 'projection' &&
    Array.isArray((value as ProjectionNode).entries)
  );
}

export class JsonSyntaxError extends Error {
  override readonly name = 'JsonSyntaxError';
  /** Offset relative to the parse origin. */
  readonly offset: number;
  /** 0-based line relative to the parse origin. */
  readonly line: number;
  readonly lineStart: number;
  readonly reason: string;

  constructor(reason: string, offset: number, line: number, lineStart: number) {
    super(reason);
    this.reason = reason;
    this.offset = offset;
    this.line = line;
    this.lineStart = lineStart;
  }
}

/** Thrown when the buffer ends before the value does and more input may follow. */
export class NeedMoreInput extends Error {
  override readonly name = 'NeedMoreInput';
}

const NEED_MORE = new NeedMoreInput('input ends inside a value');

// States and container marks of the flat skipping loop.
const EXPECT_VALUE = 0;
const EXPECT_VALUE_OR_CLOSE = 1;
const EXPECT_KEY_OR_CLOSE = 2;
const EXPECT_KEY = 3;
const EXPECT_COLON = 4;
const AFTER_VALUE = 5;
const IN_OBJECT = 1;
const IN_ARRAY = 2;
/** Containers nested deeper than this are refused; assembly/json-index.ts has the same limit. */
const MAX_DEPTH = 1000;
const SKIP_STACK = new Uint8Array(MAX_DEPTH);

const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

function hashBytes(bytes: Uint8Array, start: number, end: number): number {
  let hash = FNV_OFFSET;
  for (let i = start; i < end; i++) hash = Math.imul(hash ^ (bytes[i] as number), FNV_PRIME);
  return hash;
}

// Character classes, looked up by byte.
const STRING_PLAIN = new Uint8Array(256);
for (let byte = 0x20; byte < 256; byte++)
  STRING_PLAIN[byte] = byte === 0x22 || byte === 0x5c ? 0 : 1;
const HEX = new Int8Array(256).fill(-1);
for (let digit = 0; digit < 10; digit++) HEX[0x30 + digit] = digit;
for (let letter = 0; letter < 6; letter++) {
  HEX[0x41 + letter] = 10 + letter;
  HEX[0x61 + letter] = 10 + letter;
}

/** The bytes that may follow a backslash, besides `u`: " \\ / b f n r t. */
const ESCAPES = new Set([0x22, 0x5c, 0x2f, 0x62, 0x66, 0x6e, 0x72, 0x74]);

function describeByte(byte: number | undefined): string {
  if (byte === undefined) return 'end of input';
  if (byte >= 0x21 && byte < 0x7f) return `"${String.fromCharCode(byte)}"`;
  return `byte 0x${byte.toString(16).padStart(2, '0')}`;
}

/** Why JSON is invalid, worded once for JsonCursor and the WebAssembly index (json-index.ts). */
export const JSON_ERRORS = {
  endOfInput: 'unexpected end of input',
  expectedValue: (found: number | undefined) =>
    `unexpected ${describeByte(found)}, expected a JSON value`,
  tooDeep: `nesting deeper than ${MAX_DEPTH} levels`,
  expectedKey: (found: number | undefined) =>
    `expected a string key but found ${describeByte(found)}`,
  /** `what` names what may come: `":"`, `"," or "}"`. */
  expected: (what: string, found: number | undefined) =>
    `expected ${what} but found ${describeByte(found)}`,
  itemSeparator: 'expected "," or "]" between list items',
  literal: (word: string) => `invalid literal, expected "${word}"`,
  numberDigit: 'invalid number: expected a digit',
  numberFraction: 'invalid number: expected a digit after "."',
  numberExponent: 'invalid number: expected a digit in the exponent',
  controlCharacter: (found: number | undefined) =>
    `unescaped control character ${describeByte(found)} in string`,
  hexEscape: 'invalid \\u escape: expected 4 hex digits',
  escape: (byte: number) => `invalid escape "\\${String.fromCharCode(byte)}"`,
} as const;

/**
 * A cursor over `bytes[start, end)`. Line numbers count from the origin given at construction, so a
 * caller that parses a slice of a larger input can add its own base.
 */
export class JsonCursor {
  readonly bytes: Buffer;
  readonly end: number;
  /** True when no input follows `end`; otherwise running out raises NeedMoreInput. */
  readonly final: boolean;
  pos: number;
  line: number;
  lineStart: number;
  private depth = 0;
  private keyEscaped = false;

  constructor(
    bytes: Buffer,
    start: number,
    end: number,
    final: boolean,
    line = 0,
    lineStart = start,
  ) {
    this.bytes = bytes;
    this.pos = start;
    this.end = end;
    this.final = final;
    this.line = line;
    this.lineStart = lineStart;
  }

  /** Position of the cursor, for committing progress. */
  mark(): ValuePosition {
    return { offset: this.pos, line: this.line, lineStart: this.lineStart };
  }

  /** Returns to a committed position between values. */
  reset(position: ValuePosition): void {
    this.depth = 0;
    this.pos = position.offset;
    this.line = position.line;
    this.lineStart = position.lineStart;
  }

  fail(reason: string, offset = this.pos): never {
    if (offset >= this.end && !this.final) throw NEED_MORE;
    throw new JsonSyntaxError(reason, offset, this.line, this.lineStart);
  }

  private truncated(): never {
    if (!this.final) throw NEED_MORE;
    throw new JsonSyntaxError(JSON_ERRORS.endOfInput, this.pos, this.line, this.lineStart);
  }

  /** Skips whitespace and returns the next byte, or -1 at the end of the buffer. */
  peek(): number {
    const bytes = this.bytes;
    const end = this.end;
    let pos = this.pos;
    while (pos < end) {
      const byte = bytes[pos] as number;
      if (byte === 0x20) {
        pos++;
        while (pos < end && bytes[pos] === 0x20) pos++;
      } else if (byte === 0x0a) {
        pos++;
        this.line++;
        this.lineStart = pos;
      } else if (byte === 0x0d || byte === 0x09) {
        pos++;
      } else {
        this.pos = pos;
        return byte;
      }
    }
    this.pos = pos;
    return -1;
  }

  /** Skips whitespace, requires `byte`, and steps over it. */
  expect(byte: number, what: string): void {
    const next = this.peek();
    if (next === byte) {
      this.pos++;
      return;
    }
    if (next === -1) this.truncated();
    this.fail(JSON_ERRORS.expected(what, next));
  }

  /** Parses the next value; `selection` undefined validates and skips it. */
  value(selection: Projection | undefined): unknown {
    if (selection === undefined) {
      this.skip();
      return undefined;
    }
    const next = this.peek();
    switch (next) {
      case 0x7b:
        return this.object(selection);
      case 0x5b:
        return this.array(selection);
      case 0x22:
        return this.string();
      case 0x74:
        return this.literal('true', true);
      case 0x66:
        return this.literal('false', false);
      case 0x6e:
        return this.literal('null', null);
      case -1:
        return this.truncated();
      default:
        if (next === 0x2d || (next >= 0x30 && next <= 0x39))
          return this.number(selection !== undefined);
        return this.fail(JSON_ERRORS.expectedValue(next));
    }
  }

  /**
   * Validates and steps over one value without building it. Skipped values are most of a cluster dump,
   * so this is one flat loop over the bytes with an explicit container stack instead of recursion.
   */
  skip(): void {
    const bytes = this.bytes;
    const end = this.end;
    const stack = SKIP_STACK;
    let pos = this.pos;
    let line = this.line;
    let lineStart = this.lineStart;
    let depth = 0;
    let state = EXPECT_VALUE;
    // No closures in here: a captured local lives on the heap and slows every update of it.
    for (;;) {
      if (pos >= end) this.stopSkip(undefined, pos, line, lineStart);
      const byte = bytes[pos] as number;
      // Whitespace: runs of spaces after each newline in indented dumps.
      if (byte <= 0x20) {
        if (byte === 0x20) {
          pos++;
          while (pos < end && bytes[pos] === 0x20) pos++;
          continue;
        }
        if (byte === 0x0a) {
          pos++;
          line++;
          lineStart = pos;
          continue;
        }
        if (byte === 0x0d || byte === 0x09) {
          pos++;
          continue;
        }
      }
      switch (state) {
        case EXPECT_VALUE:
        case EXPECT_VALUE_OR_CLOSE:
          if (byte === 0x22) {
            pos = this.skipStringAt(pos, line, lineStart);
            state = AFTER_VALUE;
          } else if (byte === 0x7b) {
            if (depth >= MAX_DEPTH) this.stopSkip(JSON_ERRORS.tooDeep, pos, line, lineStart);
            stack[depth++] = IN_OBJECT;
            pos++;
            state = EXPECT_KEY_OR_CLOSE;
          } else if (byte === 0x5b) {
            if (depth >= MAX_DEPTH) this.stopSkip(JSON_ERRORS.tooDeep, pos, line, lineStart);
            stack[depth++] = IN_ARRAY;
            pos++;
            state = EXPECT_VALUE_OR_CLOSE;
          } else if (byte === 0x5d && state === EXPECT_VALUE_OR_CLOSE) {
            depth--;
            pos++;
            state = AFTER_VALUE;
          } else if (byte === 0x2d || (byte >= 0x30 && byte <= 0x39)) {
            this.pos = pos;
            this.line = line;
            this.lineStart = lineStart;
            this.number(false);
            pos = this.pos;
            state = AFTER_VALUE;
          } else if (byte === 0x74 || byte === 0x66 || byte === 0x6e) {
            this.pos = pos;
            this.literal(byte === 0x74 ? 'true' : byte === 0x66 ? 'false' : 'null', null);
            pos = this.pos;
            state = AFTER_VALUE;
          } else {
            this.stopSkip(JSON_ERRORS.expectedValue(byte), pos, line, lineStart);
          }
          break;
        case EXPECT_KEY_OR_CLOSE:
        case EXPECT_KEY:
          if (byte === 0x22) {
            pos = this.skipStringAt(pos, line, lineStart);
            state = EXPECT_COLON;
          } else if (byte === 0x7d && state === EXPECT_KEY_OR_CLOSE) {
            depth--;
            pos++;
            state = AFTER_VALUE;
          } else {
            this.stopSkip(JSON_ERRORS.expectedKey(byte), pos, line, lineStart);
          }
          break;
        case EXPECT_COLON:
          if (byte !== 0x3a) this.stopSkip(JSON_ERRORS.expected('":"', byte), pos, line, lineStart);
          pos++;
          state = EXPECT_VALUE;
          break;
        default: {
          // AFTER_VALUE
          if (depth === 0) {
            this.pos = pos;
            this.line = line;
            this.lineStart = lineStart;
            return;
          }
          const container = stack[depth - 1];
          if (byte === 0x2c) {
            pos++;
            state = container === IN_OBJECT ? EXPECT_KEY : EXPECT_VALUE;
          } else if (byte === 0x7d && container === IN_OBJECT) {
            depth--;
            pos++;
          } else if (byte === 0x5d && container === IN_ARRAY) {
            depth--;
            pos++;
          } else {
            this.stopSkip(
              JSON_ERRORS.expected(container === IN_OBJECT ? '"," or "}"' : '"," or "]"', byte),
              pos,
              line,
              lineStart,
            );
          }
        }
      }
      if (state === AFTER_VALUE && depth === 0) {
        this.pos = pos;
        this.line = line;
        this.lineStart = lineStart;
        return;
      }
    }
  }

  /** skipString() from the skip loop's locals; a string holds no newline, so the line is unchanged. */
  private skipStringAt(pos: number, line: number, lineStart: number): number {
    this.pos = pos;
    this.line = line;
    this.lineStart = lineStart;
    this.skipString();
    return this.pos;
  }

  private stopSkip(reason: string | undefined, at: number, line: number, lineStart: number): never {
    this.pos = at;
    this.line = line;
    this.lineStart = lineStart;
    if (reason === undefined || at >= this.end) return this.truncated();
    return this.fail(reason, at);
  }

  private enter(): void {
    if (++this.depth > MAX_DEPTH) this.fail(JSON_ERRORS.tooDeep);
  }

  private object(selection: Projection): unknown {
    return selection === true ? this.wholeObject() : this.projectedObject(selection);
  }

  /** Builds an object with every key. */
  private wholeObject(): Record<string, unknown> {
    const result: Record<string, unknown> = {};
    if (!this.open(0x7d)) return result;
    do {
      this.keyStart();
      const key = this.string();
      this.expect(0x3a, '":"');
      assignMember(result, key, this.value(true));
    } while (this.another(0x7d));
    return result;
  }

  /**
   * Builds an object with the projection's keys. Keys are matched by hash and bytes without decoding,
   * and unselected values are skipped, so most members cost one pass over their bytes.
   */
  private projectedObject(node: ProjectionNode): Record<string, unknown> {
    const bytes = this.bytes;
    const result: Record<string, unknown> = {};
    let positions: PositionTable | undefined;
    if (!this.open(0x7d)) return result;
    do {
      this.keyStart();
      const keyStart = this.pos + 1;
      const hash = this.skipKeyHashing();
      const keyEnd = this.pos - 1;
      // The colon usually follows the key directly.
      if (bytes[this.pos] === 0x3a) this.pos++;
      else this.expect(0x3a, '":"');
      const entry = this.keyEscaped
        ? findEntryByName(node.entries, this.decodeKey(keyStart, keyEnd))
        : findEntry(node.entries, bytes, keyStart, keyEnd, hash);
      if (entry !== undefined) {
        const key = entry.key;
        if (entry.positioned) {
          const before = this.mark();
          const value = this.value(entry.projection);
          positions ??= {};
          positions[key] = this.startOfValue(before);
          assignMember(result, key, value);
        } else {
          assignMember(result, key, this.value(entry.projection));
        }
      } else if (node.others !== undefined) {
        assignMember(result, this.decodeKey(keyStart, keyEnd), this.value(node.others));
      } else {
        this.skip();
      }
    } while (this.another(0x7d));
    if (positions !== undefined)
      Object.defineProperty(result, POSITIONS, { value: positions, enumerable: false });
    return result;
  }

  /** Steps into an object or array; false (and stepped out again) when it is empty. */
  private open(close: number): boolean {
    this.enter();
    this.pos++;
    if (this.peek() !== close) return true;
    this.pos++;
    this.depth--;
    return false;
  }

  /** After a member or element: true when another follows, false after the closing bracket. */
  private another(close: number): boolean {
    const next = this.peek();
    if (next === 0x2c) {
      this.pos++;
      return true;
    }
    if (next === close) {
      this.pos++;
      this.depth--;
      return false;
    }
    if (next === -1) this.truncated();
    return this.fail(JSON_ERRORS.expected(`"," or "${String.fromCharCode(close)}"`, next));
  }

  /** Checks that a member starts with its key's opening quote. */
  private keyStart(): void {
    const next = this.peek();
    if (next === 0x22) return;
    if (next === -1) this.truncated();
    this.fail(JSON_ERRORS.expectedKey(next));
  }

  /** Re-scans whitespace from `before` to find where the value began (cheap: only for positioned keys). */
  private startOfValue(before: ValuePosition): ValuePosition {
    let { offset, line, lineStart } = before;
    const bytes = this.bytes;
    for (;;) {
      const byte = bytes[offset];
      if (byte === 0x20 || byte === 0x09 || byte === 0x0d) offset++;
      else if (byte === 0x0a) {
        offset++;
        line++;
        lineStart = offset;
      } else break;
    }
    return { offset, line, lineStart };
  }

  private array(selection: Projection): unknown[] {
    const result: unknown[] = [];
    if (!this.open(0x5d)) return result;
    do result.push(this.value(selection));
    while (this.another(0x5d));
    return result;
  }

  private literal(text: string, value: boolean | null): boolean | null {
    const bytes = this.bytes;
    const start = this.pos;
    for (let i = 0; i < text.length; i++) {
      const at = start + i;
      if (at >= this.end) this.truncated();
      if (bytes[at] !== text.charCodeAt(i)) this.fail(JSON_ERRORS.literal(text), start);
    }
    this.pos = start + text.length;
    return value;
  }

  private number(keep: boolean): number | undefined {
    const bytes = this.bytes;
    const end = this.end;
    const start = this.pos;
    let pos = start;
    if (bytes[pos] === 0x2d) pos++;
    if (pos >= end) this.truncatedAt(pos);
    const first = bytes[pos] as number;
    if (first === 0x30) pos++;
    else if (first >= 0x31 && first <= 0x39) {
      pos++;
      while (pos < end && isDigit(bytes[pos] as number)) pos++;
    } else {
      this.fail(JSON_ERRORS.numberDigit, pos);
    }
    if (pos < end && bytes[pos] === 0x2e) {
      pos++;
      if (pos >= end) this.truncatedAt(pos);
      if (!isDigit(bytes[pos] as number)) this.fail(JSON_ERRORS.numberFraction, pos);
      while (pos < end && isDigit(bytes[pos] as number)) pos++;
    }
    if (pos < end && (bytes[pos] === 0x65 || bytes[pos] === 0x45)) {
      pos++;
      if (pos < end && (bytes[pos] === 0x2b || bytes[pos] === 0x2d)) pos++;
      if (pos >= end) this.truncatedAt(pos);
      if (!isDigit(bytes[pos] as number)) this.fail(JSON_ERRORS.numberExponent, pos);
      while (pos < end && isDigit(bytes[pos] as number)) pos++;
    }
    // A number that touches the end of a partial buffer may continue in the next one.
    if (pos >= end && !this.final) throw NEED_MORE;
    this.pos = pos;
    return keep ? Number(this.bytes.toString('latin1', start, pos)) : undefined;
  }

  private truncatedAt(pos: number): never {
    this.pos = pos;
    return this.truncated();
  }

  /** Skips a string, validating escapes and control characters. Leaves pos after the closing quote. */
  skipString(): undefined {
    const bytes = this.bytes;
    const end = this.end;
    let pos = this.pos + 1;
    for (;;) {
      while (pos < end && STRING_PLAIN[bytes[pos] as number] === 1) pos++;
      if (pos >= end) this.truncatedAt(pos);
      const byte = bytes[pos] as number;
      if (byte === 0x22) {
        this.pos = pos + 1;
        return undefined;
      }
      if (byte === 0x5c) {
        pos = this.escapeEnd(pos);
        continue;
      }
      this.fail(JSON_ERRORS.controlCharacter(byte), pos);
    }
  }

  /** Skips a key string and returns its FNV-1a hash. */
  private skipKeyHashing(): number {
    const bytes = this.bytes;
    const end = this.end;
    let pos = this.pos + 1;
    let hash = FNV_OFFSET;
    this.keyEscaped = false;
    for (;;) {
      let byte = 0;
      while (pos < end) {
        byte = bytes[pos] as number;
        if (STRING_PLAIN[byte] !== 1) break;
        hash = Math.imul(hash ^ byte, FNV_PRIME);
        pos++;
      }
      if (pos >= end) this.truncatedAt(pos);
      if (byte === 0x22) {
        this.pos = pos + 1;
        return hash;
      }
      if (byte === 0x5c) {
        // Escaped keys are rare; they are matched by their decoded text instead of the hash.
        this.keyEscaped = true;
        pos = this.escapeEnd(pos);
        continue;
      }
      this.fail(JSON_ERRORS.controlCharacter(byte), pos);
    }
  }

  /** Validates the escape at `pos` (a backslash) and returns the offset after it. */
  private escapeEnd(pos: number): number {
    const bytes = this.bytes;
    if (pos + 1 >= this.end) this.truncatedAt(pos + 1);
    const kind = bytes[pos + 1] as number;
    if (kind === 0x75) {
      if (pos + 6 > this.end) this.truncatedAt(this.end);
      for (let i = pos + 2; i < pos + 6; i++) {
        if ((HEX[bytes[i] as number] as number) < 0) this.fail(JSON_ERRORS.hexEscape, i);
      }
      return pos + 6;
    }
    if (!ESCAPES.has(kind)) this.fail(JSON_ERRORS.escape(kind), pos);
    return pos + 2;
  }

  private decodeKey(start: number, end: number): string {
    return decodeJsonString(this.bytes, start, end);
  }

  /** Parses a string value. */
  string(): string {
    const start = this.pos + 1;
    const bytes = this.bytes;
    const end = this.end;
    let pos = start;
    let ascii = true;
    let byte = 0;
    while (pos < end) {
      byte = bytes[pos] as number;
      if (STRING_PLAIN[byte] !== 1) break;
      if (byte >= 0x80) ascii = false;
      pos++;
    }
    if (pos < end && byte === 0x22) {
      this.pos = pos + 1;
      return ascii ? bytes.toString('latin1', start, pos) : bytes.toString('utf8', start, pos);
    }
    this.skipString();
    return decodeJsonString(bytes, start, this.pos - 1);
  }
}

/** Sets a member as JSON.parse does: a `__proto__` key becomes an own property, not the prototype. */
export function assignMember(target: Record<string, unknown>, key: string, value: unknown): void {
  if (key === '__proto__') {
    Object.defineProperty(target, key, {
      value,
      enumerable: true,
      writable: true,
      configurable: true,
    });
  } else {
    target[key] = value;
  }
}

export function findEntryByName(
  entries: readonly ProjectionEntry[],
  key: string,
): ProjectionEntry | undefined {
  for (const entry of entries) if (entry.key === key) return entry;
  return undefined;
}

function isDigit(byte: number): boolean {
  return byte >= 0x30 && byte <= 0x39;
}

function findEntry(
  entries: readonly ProjectionEntry[],
  bytes: Uint8Array,
  start: number,
  end: number,
  hash: number,
): ProjectionEntry | undefined {
  const length = end - start;
  for (const entry of entries) {
    if (entry.hash !== hash || entry.bytes.length !== length) continue;
    let same = true;
    for (let i = 0; i < length; i++) {
      if (entry.bytes[i] !== bytes[start + i]) {
        same = false;
        break;
      }
    }
    if (same) return entry;
  }
  return undefined;
}

/**
 * Decodes the contents of a validated JSON string: `bytes[start - 1]` and `bytes[end]` are its quotes.
 * JSON.parse decodes escapes natively, far faster than piecing the string together here.
 */
export function decodeJsonString(bytes: Buffer, start: number, end: number): string {
  return JSON.parse(bytes.toString('utf8', start - 1, end + 1)) as string;
}
