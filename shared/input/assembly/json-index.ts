// AssemblyScript: compiled to WebAssembly by scripts/build-wasm.ts (see ../json-index.ts for the
// JavaScript side). Indexes and validates JSON text at SIMD speed so that the projection walker only
// visits the fields it keeps.
//
// Stage 1 (`index`) classifies 64 bytes at a time and writes the offset of every structural byte: the
// operators `{ } [ ] : ,`, the opening quote of every string, and the first byte of every other scalar.
// It also checks what only it sees: escapes and control characters inside strings, and counts newlines
// per block so that the line of any offset is found without scanning the bytes again.
// Stage 2 (`validateList`) walks those offsets with the JSON grammar, checks numbers and literals, and
// records for every `{` and `[` the index of its closing bracket, so a reader can step over any value.

// Error codes, read by the host through errorCode()/errorOffset()/errorByte().
const END_OF_INPUT = 1;
const EXPECTED_VALUE = 2;
const TOO_DEEP = 3;
const EXPECTED_KEY = 4;
const EXPECTED_COLON = 5;
const EXPECTED_COMMA_OR_BRACE = 6;
const EXPECTED_COMMA_OR_BRACKET = 7;
const EXPECTED_ITEM_SEPARATOR = 8;
const INVALID_TRUE = 9;
const INVALID_FALSE = 10;
const INVALID_NULL = 11;
const NUMBER_DIGIT = 12;
const NUMBER_FRACTION = 13;
const NUMBER_EXPONENT = 14;
const CONTROL_CHARACTER = 15;
const INVALID_HEX = 16;
const INVALID_ESCAPE = 17;

// Outcomes of validateList().
const INCOMPLETE = 0;
const CLOSED = 1;
const FAILED = 2;

const MAX_DEPTH = 1000;

// Grammar states of stage 2.
const EXPECT_VALUE = 0;
const EXPECT_VALUE_OR_CLOSE = 1;
const EXPECT_KEY_OR_CLOSE = 2;
const EXPECT_KEY = 3;
const EXPECT_COLON = 4;
const AFTER_VALUE = 5;

const IN_OBJECT: u8 = 1;
const IN_ARRAY: u8 = 2;

const QUOTE: v128 = i8x16.splat(0x22);
const BACKSLASH: v128 = i8x16.splat(0x5c);
const SPACE: v128 = i8x16.splat(0x20);
const NEWLINE: v128 = i8x16.splat(0x0a);
const LOW_NIBBLE: v128 = i8x16.splat(0x0f);
// Whitespace by low nibble: only 0x20, 0x09, 0x0a and 0x0d equal their own entry.
const WHITESPACE: v128 = i8x16(0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0x09, 0x0a, 0, 0, 0x0d, 0, 0);
// Operators by low nibble, with `[`/`]` folded onto `{`/`}` (bit 5 set).
const OPERATORS: v128 = i8x16(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x3a, 0x7b, 0x2c, 0x7d, 0, 0);

const PADDING = 64;

// Flags of a 64-byte block of input, so that the reader decodes most strings without scanning them.
const BLOCK_BACKSLASH: u8 = 1;
const BLOCK_NON_ASCII: u8 = 2;

// Memory layout, set by layout(): the depth stack, then the input, its offsets and bracket matches, one
// u32 per 64-byte block of input counting the newlines before the block, and one byte of flags per
// block (BLOCK_BACKSLASH, BLOCK_NON_ASCII).
let stackPointer: usize = 0;
let kindPointer: usize = 0;
let inputPointer: usize = 0;
let offsetsPointer: usize = 0;
let matchesPointer: usize = 0;
let newlineCountsPointer: usize = 0;
let blockFlagsPointer: usize = 0;
/** Input bytes the memory is laid out for; -1 until the first layout(). */
let capacity: i32 = -1;

let failureCode: i32 = 0;
let failureOffset: i32 = -1;
let failureByte: i32 = -1;
/** Offset of the opening quote of a string that runs past the end, or -1. */
let openString: i32 = -1;
let lastItemSeparator: i32 = -1;
let closingBracket: i32 = -1;
let lastNewline: i32 = -1;

export function errorCode(): i32 {
  return failureCode;
}
export function errorOffset(): i32 {
  return failureOffset;
}
export function errorByte(): i32 {
  return failureByte;
}
export function input(): usize {
  return inputPointer;
}
export function offsets(): usize {
  return offsetsPointer;
}
export function matches(): usize {
  return matchesPointer;
}
/** One byte of flags per 64-byte block of the input indexed last. */
export function blockFlags(): usize {
  return blockFlagsPointer;
}
/** Index of the last `,` between list items that validateList() reached, or -1. */
export function itemSeparator(): i32 {
  return lastItemSeparator;
}
/** Index of the `]` that closed the list, or -1. */
export function listEnd(): i32 {
  return closingBracket;
}
/** Offset of the last newline that newlines() counted, or -1. */
export function newlineOffset(): i32 {
  return lastNewline;
}

/** Makes room for `length` input bytes; returns false when memory cannot grow that far. */
export function layout(length: i32): bool {
  if (length <= capacity) return true;
  const stack = (__heap_base + 15) & ~(<usize>15);
  const kinds = stack + ((MAX_DEPTH + 2) << 2);
  const inputStart = (kinds + MAX_DEPTH + 2 + 15) & ~(<usize>15);
  // Every byte can be a structural (`[1,1,1]`), plus the end marker; index() writes structurals four
  // at a time, up to three slots past the last one.
  const offsetsStart = (inputStart + <usize>length + PADDING + 15) & ~(<usize>15);
  const matchesStart = offsetsStart + ((<usize>length + 8) << 2);
  // One count per block, and one after the last block.
  const newlineCountsStart = matchesStart + ((<usize>length + 2) << 2);
  const blockFlagsStart = newlineCountsStart + (((<usize>length >> 6) + 2) << 2);
  const end = blockFlagsStart + (<usize>length >> 6) + 1;
  const pages = <i32>((end + 0xffff) >> 16);
  const grow = pages - memory.size();
  if (grow > 0 && memory.grow(grow) < 0) return false;
  stackPointer = stack;
  kindPointer = kinds;
  inputPointer = inputStart;
  offsetsPointer = offsetsStart;
  matchesPointer = matchesStart;
  newlineCountsPointer = newlineCountsStart;
  blockFlagsPointer = blockFlagsStart;
  capacity = length;
  return true;
}

function fail(code: i32, offset: i32, byte: i32): void {
  if (failureOffset >= 0 && failureOffset <= offset) return;
  failureCode = code;
  failureOffset = offset;
  failureByte = byte;
}

@inline
function prefixXor(bits: u64): u64 {
  bits ^= bits << 1;
  bits ^= bits << 2;
  bits ^= bits << 4;
  bits ^= bits << 8;
  bits ^= bits << 16;
  bits ^= bits << 32;
  return bits;
}

@inline
function isHex(byte: u32): bool {
  return byte - 0x30 < 10 || (byte | 0x20) - 0x61 < 6;
}

/** The 64 bits of four 16-byte comparison results, lane 0 in the low bits. */
@inline
function bits(lane0: v128, lane1: v128, lane2: v128, lane3: v128): u64 {
  const low = <u32>i8x16.bitmask(lane0) | (<u32>i8x16.bitmask(lane1) << 16);
  const high = <u32>i8x16.bitmask(lane2) | (<u32>i8x16.bitmask(lane3) << 16);
  return <u64>low | (<u64>high << 32);
}

/** Backslashes and control characters other than newlines (`newline`) among `bytes`. */
@inline
function rareIn(bytes: v128, newline: v128): v128 {
  return v128.or(i8x16.eq(bytes, BACKSLASH), v128.andnot(i8x16.lt_u(bytes, SPACE), newline));
}

/** Checks the escapes of one block: `escaped` marks the byte after each escaping backslash. */
function checkEscapes(block: i32, escaped: u64, length: i32): void {
  while (escaped != 0) {
    const at = block + <i32>ctz(escaped);
    escaped &= escaped - 1;
    if (at >= length) return;
    const kind = <u32>load<u8>(inputPointer + <usize>at);
    if (kind == 0x75) {
      for (let digit = at + 1; digit <= at + 4; digit++) {
        // A \u escape cut by the end of the input belongs to a string that is still open.
        if (digit >= length) return;
        const byte = <u32>load<u8>(inputPointer + <usize>digit);
        if (!isHex(byte)) {
          fail(INVALID_HEX, digit, byte);
          break;
        }
      }
    } else if (
      kind != 0x22 &&
      kind != 0x5c &&
      kind != 0x2f &&
      kind != 0x62 &&
      kind != 0x66 &&
      kind != 0x6e &&
      kind != 0x72 &&
      kind != 0x74
    ) {
      fail(INVALID_ESCAPE, at - 1, kind);
    }
  }
}

/**
 * Stage 1 over input()[0, length): writes structural offsets to offsets() followed by `length` as an
 * end marker, and returns how many it wrote (the marker included).
 */
export function index(length: i32): i32 {
  // Spaces after the input: the last block reads them, and they are neither structural nor control
  // characters, so that block needs no mask.
  memory.fill(inputPointer + <usize>length, 0x20, PADDING);
  failureCode = 0;
  failureOffset = -1;
  failureByte = -1;
  openString = -1;
  let inString: u64 = 0;
  let scalarCarry: u64 = 0;
  let escapeCarry: u64 = 0;
  let lastOpenQuote: i32 = -1;
  let newlinesBefore: u32 = 0;
  let out = offsetsPointer;
  for (let block: i32 = 0; block < length; block += 64) {
    const at = inputPointer + <usize>block;
    const b0 = v128.load(at);
    const b1 = v128.load(at, 16);
    const b2 = v128.load(at, 32);
    const b3 = v128.load(at, 48);
    const n0 = v128.and(b0, LOW_NIBBLE);
    const n1 = v128.and(b1, LOW_NIBBLE);
    const n2 = v128.and(b2, LOW_NIBBLE);
    const n3 = v128.and(b3, LOW_NIBBLE);
    const l0 = i8x16.eq(b0, NEWLINE);
    const l1 = i8x16.eq(b1, NEWLINE);
    const l2 = i8x16.eq(b2, NEWLINE);
    const l3 = i8x16.eq(b3, NEWLINE);
    const quote = bits(
      i8x16.eq(b0, QUOTE),
      i8x16.eq(b1, QUOTE),
      i8x16.eq(b2, QUOTE),
      i8x16.eq(b3, QUOTE),
    );
    const newline = bits(l0, l1, l2, l3);
    const space = bits(
      i8x16.eq(i8x16.swizzle(WHITESPACE, n0), b0),
      i8x16.eq(i8x16.swizzle(WHITESPACE, n1), b1),
      i8x16.eq(i8x16.swizzle(WHITESPACE, n2), b2),
      i8x16.eq(i8x16.swizzle(WHITESPACE, n3), b3),
    );
    // Matches the six operators and also 0x0c and 0x1a. Those are control characters: inside a
    // string stage 1 rejects them, and outside one stage 2 rejects them at their offset whatever
    // they are classed as.
    const operator = bits(
      i8x16.eq(i8x16.swizzle(OPERATORS, n0), v128.or(b0, SPACE)),
      i8x16.eq(i8x16.swizzle(OPERATORS, n1), v128.or(b1, SPACE)),
      i8x16.eq(i8x16.swizzle(OPERATORS, n2), v128.or(b2, SPACE)),
      i8x16.eq(i8x16.swizzle(OPERATORS, n3), v128.or(b3, SPACE)),
    );
    // Backslashes and control characters other than newlines are rare: they are only gathered here,
    // and their bits computed when a block holds any. Non-ASCII bytes only set the block's flag.
    const rare = v128.or(
      v128.or(rareIn(b0, l0), rareIn(b1, l1)),
      v128.or(rareIn(b2, l2), rareIn(b3, l3)),
    );
    const high = v128.or(v128.or(b0, b1), v128.or(b2, b3));
    let backslash: u64 = 0;
    let control: u64 = newline;
    if (v128.any_true(rare)) {
      backslash = bits(
        i8x16.eq(b0, BACKSLASH),
        i8x16.eq(b1, BACKSLASH),
        i8x16.eq(b2, BACKSLASH),
        i8x16.eq(b3, BACKSLASH),
      );
      control = bits(
        i8x16.lt_u(b0, SPACE),
        i8x16.lt_u(b1, SPACE),
        i8x16.lt_u(b2, SPACE),
        i8x16.lt_u(b3, SPACE),
      );
    }
    store<u8>(
      blockFlagsPointer + (<usize>block >> 6),
      (backslash != 0 ? BLOCK_BACKSLASH : 0) | (i8x16.bitmask(high) != 0 ? BLOCK_NON_ASCII : 0),
    );
    store<u32>(newlineCountsPointer + ((<usize>block >> 6) << 2), newlinesBefore);
    // The padding after the input is spaces, so a partial last block counts only input bytes.
    newlinesBefore += <u32>popcnt(newline);
    let escaped: u64 = 0;
    if (backslash != 0 || escapeCarry != 0) {
      // A backslash escapes the next byte unless it is itself escaped.
      escaped = escapeCarry;
      escapeCarry = 0;
      let starts = backslash & ~escaped;
      while (starts != 0) {
        const bit = starts & (~starts + 1);
        if (bit == 0x8000000000000000) {
          escapeCarry = 1;
          break;
        }
        escaped |= bit << 1;
        starts &= ~(bit | (bit << 1));
      }
    }
    const quotes = quote & ~escaped;
    // Set from each opening quote up to (not including) its closing quote.
    const within = prefixXor(quotes) ^ inString;
    inString = <u64>(<i64>within >> 63);
    // A backslash outside a string is not an escape but a bad value, which stage 2 reports.
    if (escaped != 0) checkEscapes(block, escaped & within, length);
    const problems = control & within;
    if (problems != 0) {
      const offset = block + <i32>ctz(problems);
      fail(CONTROL_CHARACTER, offset, <i32>load<u8>(inputPointer + <usize>offset));
    }
    const outside = ~(within | quotes);
    const scalar = outside & ~space & ~operator;
    const scalarStart = scalar & ~((scalar << 1) | scalarCarry);
    scalarCarry = scalar >> 63;
    const openQuotes = quotes & within;
    let structurals = (operator & outside) | openQuotes | scalarStart;
    if (openQuotes != 0) lastOpenQuote = block + 63 - <i32>clz(openQuotes);
    // Written four at a time past the count (the offsets have room): fewer unpredictable branches.
    const count = <usize>popcnt(structurals);
    let write = out;
    while (structurals != 0) {
      store<u32>(write, block + <i32>ctz(structurals));
      structurals &= structurals - 1;
      store<u32>(write, block + <i32>ctz(structurals), 4);
      structurals &= structurals - 1;
      store<u32>(write, block + <i32>ctz(structurals), 8);
      structurals &= structurals - 1;
      store<u32>(write, block + <i32>ctz(structurals), 12);
      structurals &= structurals - 1;
      write += 16;
    }
    out += count << 2;
  }
  if (inString != 0) openString = lastOpenQuote;
  store<u32>(newlineCountsPointer + (((<usize>length + 63) >> 6) << 2), newlinesBefore);
  store<u32>(out, length);
  out += 4;
  return <i32>((out - offsetsPointer) >> 2);
}

@inline
function isDigit(byte: u32): bool {
  return byte - 0x30 < 10;
}

/** Checks the literal `word` (4 or 5 bytes) at `at`; returns the offset after it, or -1. */
function literal(at: i32, length: i32, final: bool, word: u64, size: i32, code: i32): i32 {
  for (let i = 0; i < size; i++) {
    if (at + i >= length) {
      if (final) fail(END_OF_INPUT, length, -1);
      return -1;
    }
    if (<u64>load<u8>(inputPointer + <usize>(at + i)) != ((word >> (<u64>(i << 3))) & 0xff)) {
      fail(code, at, -1);
      return -1;
    }
  }
  return at + size;
}

/** Checks a number at `at`; returns the offset after it, or -1 (failure recorded, or input cut). */
function number(at: i32, length: i32, final: bool): i32 {
  let pos = at;
  if (load<u8>(inputPointer + <usize>pos) == 0x2d) pos++;
  if (pos >= length) {
    if (final) fail(END_OF_INPUT, length, -1);
    return -1;
  }
  const first = <u32>load<u8>(inputPointer + <usize>pos);
  if (first == 0x30) pos++;
  else if (first - 0x31 < 9) {
    pos++;
    while (pos < length && isDigit(load<u8>(inputPointer + <usize>pos))) pos++;
  } else {
    fail(NUMBER_DIGIT, pos, -1);
    return -1;
  }
  if (pos < length && load<u8>(inputPointer + <usize>pos) == 0x2e) {
    pos++;
    if (pos >= length) {
      if (final) fail(END_OF_INPUT, length, -1);
      return -1;
    }
    if (!isDigit(load<u8>(inputPointer + <usize>pos))) {
      fail(NUMBER_FRACTION, pos, -1);
      return -1;
    }
    while (pos < length && isDigit(load<u8>(inputPointer + <usize>pos))) pos++;
  }
  if (pos < length && (load<u8>(inputPointer + <usize>pos) | 0x20) == 0x65) {
    pos++;
    if (pos < length) {
      const sign = load<u8>(inputPointer + <usize>pos);
      if (sign == 0x2b || sign == 0x2d) pos++;
    }
    if (pos >= length) {
      if (final) fail(END_OF_INPUT, length, -1);
      return -1;
    }
    if (!isDigit(load<u8>(inputPointer + <usize>pos))) {
      fail(NUMBER_EXPONENT, pos, -1);
      return -1;
    }
    while (pos < length && isDigit(load<u8>(inputPointer + <usize>pos))) pos++;
  }
  // A number that touches the end of a partial input may continue in the next one.
  if (pos >= length && !final) return -1;
  return pos;
}

/** The error for an unexpected byte after a value, which depends on the enclosing container. */
function afterValueFailure(depth: i32, offset: i32, byte: i32): void {
  if (depth == 1) fail(EXPECTED_ITEM_SEPARATOR, offset, byte);
  else if (load<u8>(kindPointer + <usize>(depth - 1)) == IN_OBJECT)
    fail(EXPECTED_COMMA_OR_BRACE, offset, byte);
  else fail(EXPECTED_COMMA_OR_BRACKET, offset, byte);
}

/**
 * Checks a scalar (not a string) starting at `at` and that nothing but whitespace or an operator
 * follows it; returns false when it failed or runs past the end of a partial input.
 */
function scalar(at: i32, byte: u32, length: i32, final: bool, depth: i32): bool {
  let end: i32;
  if (byte == 0x74) end = literal(at, length, final, 0x65757274, 4, INVALID_TRUE);
  else if (byte == 0x66) end = literal(at, length, final, 0x65736c6166, 5, INVALID_FALSE);
  else if (byte == 0x6e) end = literal(at, length, final, 0x6c6c756e, 4, INVALID_NULL);
  else if (byte == 0x2d || isDigit(byte)) end = number(at, length, final);
  else {
    fail(EXPECTED_VALUE, at, byte);
    return false;
  }
  if (end < 0) return false;
  if (end < length) {
    const next = <u32>load<u8>(inputPointer + <usize>end);
    const separates =
      next == 0x20 ||
      next == 0x0a ||
      next == 0x0d ||
      next == 0x09 ||
      next == 0x2c ||
      next == 0x3a ||
      next == 0x22 ||
      (next | 0x20) == 0x7b ||
      (next | 0x20) == 0x7d;
    if (!separates) {
      afterValueFailure(depth, end, next);
      return false;
    }
  }
  return true;
}

/**
 * Stage 2 over the `count` offsets of index(): the items of a list, starting just after its `[`
 * (`atListStart`, so `]` may close an empty list) or just after a `,` between items. Returns CLOSED when
 * the list's `]` was reached (see listEnd()), FAILED with the first error (see errorCode()), or
 * INCOMPLETE when the input ran out first; itemSeparator() tells how far items were complete.
 */
export function validateList(count: i32, atListStart: bool, final: bool): i32 {
  const length = <i32>load<u32>(offsetsPointer + (<usize>(count - 1) << 2));
  lastItemSeparator = -1;
  closingBracket = -1;
  // The list itself is level 0, so items sit at depth 1.
  store<u8>(kindPointer, IN_ARRAY);
  let depth = 1;
  let state = atListStart ? EXPECT_VALUE_OR_CLOSE : EXPECT_VALUE;
  for (let i = 0; i < count - 1; i++) {
    const at = <i32>load<u32>(offsetsPointer + (<usize>i << 2));
    // Stage 1 found a bad string before this point: that is the first error.
    if (failureOffset >= 0 && failureOffset < at) return FAILED;
    const byte = <u32>load<u8>(inputPointer + <usize>at);
    if (state == AFTER_VALUE) {
      const container = load<u8>(kindPointer + <usize>(depth - 1));
      if (byte == 0x2c) {
        state = container == IN_OBJECT ? EXPECT_KEY : EXPECT_VALUE;
        if (depth == 1) lastItemSeparator = i;
      } else if (byte == 0x7d && container == IN_OBJECT) {
        depth--;
        store<u32>(matchesPointer + (<usize>load<u32>(stackPointer + (<usize>depth << 2)) << 2), i);
      } else if (byte == 0x5d && container == IN_ARRAY) {
        depth--;
        if (depth == 0) {
          closingBracket = i;
          return CLOSED;
        }
        store<u32>(matchesPointer + (<usize>load<u32>(stackPointer + (<usize>depth << 2)) << 2), i);
      } else {
        afterValueFailure(depth, at, byte);
        return FAILED;
      }
    } else if (state == EXPECT_COLON) {
      if (byte != 0x3a) {
        fail(EXPECTED_COLON, at, byte);
        return FAILED;
      }
      state = EXPECT_VALUE;
    } else if (state >= EXPECT_KEY_OR_CLOSE) {
      if (byte == 0x22) {
        if (at == openString) break;
        state = EXPECT_COLON;
      } else if (byte == 0x7d && state == EXPECT_KEY_OR_CLOSE) {
        depth--;
        store<u32>(matchesPointer + (<usize>load<u32>(stackPointer + (<usize>depth << 2)) << 2), i);
        state = AFTER_VALUE;
      } else {
        fail(EXPECTED_KEY, at, byte);
        return FAILED;
      }
    } else if (byte == 0x22) {
      if (at == openString) break;
      state = AFTER_VALUE;
    } else if (byte == 0x7b || byte == 0x5b) {
      if (depth > MAX_DEPTH) {
        fail(TOO_DEEP, at, byte);
        return FAILED;
      }
      store<u32>(stackPointer + (<usize>depth << 2), i);
      store<u8>(kindPointer + <usize>depth, byte == 0x7b ? IN_OBJECT : IN_ARRAY);
      depth++;
      state = byte == 0x7b ? EXPECT_KEY_OR_CLOSE : EXPECT_VALUE_OR_CLOSE;
    } else if (byte == 0x5d && state == EXPECT_VALUE_OR_CLOSE) {
      depth--;
      if (depth == 0) {
        closingBracket = i;
        return CLOSED;
      }
      store<u32>(matchesPointer + (<usize>load<u32>(stackPointer + (<usize>depth << 2)) << 2), i);
      state = AFTER_VALUE;
    } else {
      if (!scalar(at, byte, length, final, depth)) return failureOffset >= 0 ? FAILED : INCOMPLETE;
      state = AFTER_VALUE;
    }
  }
  if (failureOffset >= 0) return FAILED;
  if (final) {
    fail(END_OF_INPUT, length, -1);
    return FAILED;
  }
  return INCOMPLETE;
}

/** Newlines in block `block` of the input, as a bit mask. */
function newlineMask(block: i32): u64 {
  const at = inputPointer + (<usize>block << 6);
  return bits(
    i8x16.eq(v128.load(at), NEWLINE),
    i8x16.eq(v128.load(at, 16), NEWLINE),
    i8x16.eq(v128.load(at, 32), NEWLINE),
    i8x16.eq(v128.load(at, 48), NEWLINE),
  );
}

/** Newlines in input()[0, offset), from the block counts of index() and the last block's mask. */
function newlinesBefore(offset: i32): i32 {
  const block = offset >> 6;
  const below = offset & 63;
  const before = <i32>load<u32>(newlineCountsPointer + (<usize>block << 2));
  if (below == 0) return before;
  return before + <i32>popcnt(newlineMask(block) & ((<u64>1 << <u64>below) - 1));
}

/**
 * Counts newlines in input()[from, to) of the input indexed last, and remembers the offset of the
 * last one (newlineOffset()).
 */
export function newlines(from: i32, to: i32): i32 {
  lastNewline = -1;
  if (to <= from) return 0;
  const count = newlinesBefore(to) - newlinesBefore(from);
  if (count == 0) return 0;
  // The last one: step back over blocks without newlines, then take the highest bit below `to`.
  let block = (to - 1) >> 6;
  let mask = newlineMask(block);
  if (((to - 1) & 63) != 63) mask &= ((<u64>1 << <u64>(to & 63)) - 1);
  if (mask == 0) {
    // The first block before it whose count rises holds the last newline.
    block--;
    while (
      load<u32>(newlineCountsPointer + ((<usize>block + 1) << 2)) ==
      load<u32>(newlineCountsPointer + (<usize>block << 2))
    )
      block--;
    mask = newlineMask(block);
  }
  lastNewline = (block << 6) + 63 - <i32>clz(mask);
  return count;
}
