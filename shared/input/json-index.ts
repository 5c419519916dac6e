import { JSON_INDEX_WASM } from './json-index-wasm.ts';
import {
  assignMember,
  decodeJsonString,
  findEntryByName,
  JSON_ERRORS,
  POSITIONS,
  type PositionTable,
  type Projection,
  type ProjectionEntry,
  type ProjectionNode,
  type ValuePosition,
} from './json-projection.ts';

// Reads the items of a JSON list through a structural index built in WebAssembly (see
// assembly/json-index.ts): the bytes are validated and indexed at SIMD speed, and the projection walk
// below then touches only the keys of the objects it descends into and the values it keeps. It builds the
// same values, positions and errors as JsonCursor, which remains the reader for everything else.

interface JsonIndexExports {
  readonly memory: WebAssembly.Memory;
  layout(length: number): number;
  index(length: number): number;
  validateList(count: number, atListStart: boolean, final: boolean): number;
  newlines(from: number, to: number): number;
  newlineOffset(): number;
  errorCode(): number;
  errorOffset(): number;
  errorByte(): number;
  input(): number;
  offsets(): number;
  matches(): number;
  blockFlags(): number;
  itemSeparator(): number;
  listEnd(): number;
}

const CLOSED = 1;
const FAILED = 2;

// Block flags written by stage 1, one byte per 64 bytes of input.
const BLOCK_BACKSLASH = 1;
const BLOCK_NON_ASCII = 2;

/** The reason for a WebAssembly error code, worded as JsonCursor words it. */
function errorReason(code: number, byte: number): string {
  const found = byte < 0 ? undefined : byte;
  switch (code) {
    case 1:
      return JSON_ERRORS.endOfInput;
    case 2:
      return JSON_ERRORS.expectedValue(found);
    case 3:
      return JSON_ERRORS.tooDeep;
    case 4:
      return JSON_ERRORS.expectedKey(found);
    case 5:
      return JSON_ERRORS.expected('":"', found);
    case 6:
      return JSON_ERRORS.expected('"," or "}"', found);
    case 7:
      return JSON_ERRORS.expected('"," or "]"', found);
    case 8:
      return JSON_ERRORS.itemSeparator;
    case 9:
      return JSON_ERRORS.literal('true');
    case 10:
      return JSON_ERRORS.literal('false');
    case 11:
      return JSON_ERRORS.literal('null');
    case 12:
      return JSON_ERRORS.numberDigit;
    case 13:
      return JSON_ERRORS.numberFraction;
    case 14:
      return JSON_ERRORS.numberExponent;
    case 15:
      return JSON_ERRORS.controlCharacter(found);
    case 16:
      return JSON_ERRORS.hexEscape;
    case 17:
      return JSON_ERRORS.escape(byte);
    default:
      return `invalid JSON (error ${code})`;
  }
}

export interface ListScanError {
  readonly reason: string;
  readonly offset: number;
}

/** What validating a list's items found; indexes are into the structural index. */
export type ListScan = {
  /** Index of the last `,` between items before the scan stopped, or -1. */
  readonly separator: number;
  /** Index of the list's closing `]` when closed, else -1. */
  readonly end: number;
  /** The values of the scanned bytes. */
  readonly json: IndexedJson;
} & (
  | { readonly outcome: 'closed' | 'incomplete'; readonly error?: undefined }
  | { readonly outcome: 'failed'; readonly error: ListScanError }
);

let compiled: WebAssembly.Module | undefined;

const START: ValuePosition = { offset: 0, line: 0, lineStart: 0 };

/** One per thread: the WebAssembly instance and its memory are reused for every region. */
export class JsonListIndexer {
  private readonly wasm: JsonIndexExports;

  constructor() {
    compiled ??= new WebAssembly.Module(Buffer.from(JSON_INDEX_WASM, 'base64'));
    this.wasm = new WebAssembly.Instance(compiled, {}).exports as unknown as JsonIndexExports;
  }

  /**
   * Validates and indexes `bytes`: the items of a list from just after its `[` (`atListStart`) or
   * just after a `,` between items. `final` says that no input follows. Positions count from
   * `origin`: where `bytes` sit in a larger input that the caller reads in slices.
   */
  scanList(
    bytes: Uint8Array,
    atListStart: boolean,
    final: boolean,
    origin: ValuePosition = START,
  ): ListScan {
    const fill = (input: Uint8Array): number => {
      input.set(bytes);
      return bytes.length;
    };
    return this.scanInto(bytes.length, fill, atListStart, final, origin);
  }

  /**
   * As scanList, for `length` bytes that `fill` writes straight into the parser's memory (from a
   * file, say). `fill` returns how many it wrote: fewer means the input ended there (a file cut short
   * while it was read), and the scan treats that as the end of the input.
   */
  scanInto(
    length: number,
    fill: (input: Uint8Array) => number,
    atListStart: boolean,
    final: boolean,
    origin: ValuePosition = START,
  ): ListScan {
    const wasm = this.wasm;
    if (wasm.layout(length) === 0) {
      throw new RangeError(
        `a JSON region of ${length} bytes does not fit in the parser's memory; is one list item that large?`,
      );
    }
    const buffer = wasm.memory.buffer;
    const filled = fill(new Uint8Array(buffer, wasm.input(), length));
    const count = wasm.index(filled);
    const outcome = wasm.validateList(count, atListStart, final || filled < length);
    const json = new IndexedJson(
      Buffer.from(buffer, wasm.input(), filled),
      new Uint32Array(buffer, wasm.offsets(), count),
      new Uint32Array(buffer, wasm.matches(), count),
      new Uint8Array(buffer, wasm.blockFlags(), (filled >> 6) + 1),
      (from, to) => {
        const lines = wasm.newlines(from, to);
        return lines === 0 ? undefined : { lines, last: wasm.newlineOffset() };
      },
      origin,
    );
    const separator = wasm.itemSeparator();
    if (outcome === FAILED) {
      const error = {
        reason: errorReason(wasm.errorCode(), wasm.errorByte()),
        offset: wasm.errorOffset(),
      };
      return { outcome: 'failed', separator, end: -1, error, json };
    }
    if (outcome === CLOSED) return { outcome: 'closed', separator, end: wasm.listEnd(), json };
    return { outcome: 'incomplete', separator, end: -1, json };
  }
}

let threadIndexer: JsonListIndexer | undefined;

/** The indexer of the calling thread. */
export function jsonListIndexer(): JsonListIndexer {
  threadIndexer ??= new JsonListIndexer();
  return threadIndexer;
}

type CountNewlines = (from: number, to: number) => { lines: number; last: number } | undefined;

/**
 * Values of validated JSON, addressed by structural index. Only indexes inside complete values may be
 * read: the scan that built it says how far that is. Offsets are into its bytes; positions (lines and
 * line starts) count from its origin.
 */
export class IndexedJson {
  private readonly bytes: Buffer;
  private readonly offsets: Uint32Array;
  private readonly matches: Uint32Array;
  /**
   * Per 64-byte block of `bytes`: BLOCK_BACKSLASH and BLOCK_NON_ASCII, so that most keys and strings
   * need no scan for either.
   */
  private readonly blockFlags: Uint8Array;
  private readonly countNewlines: CountNewlines;
  private readonly origin: ValuePosition;
  /** Index just after the value read last. */
  next = 0;
  // Lines are counted lazily, forwards from the last position asked for.
  private countedTo = 0;
  private line = 0;
  private lineStart = 0;

  constructor(
    bytes: Buffer,
    offsets: Uint32Array,
    matches: Uint32Array,
    blockFlags: Uint8Array,
    countNewlines: CountNewlines,
    origin: ValuePosition,
  ) {
    this.bytes = bytes;
    this.offsets = offsets;
    this.matches = matches;
    this.blockFlags = blockFlags;
    this.countNewlines = countNewlines;
    this.origin = origin;
  }

  offset(index: number): number {
    return this.offsets[index] as number;
  }

  /** Where a byte offset lies, counted from the origin: offset, line (0-based) and line start. */
  position(offset: number): ValuePosition {
    if (offset < this.countedTo) {
      this.countedTo = 0;
      this.line = 0;
      this.lineStart = 0;
    }
    const counted = this.countNewlines(this.countedTo, offset);
    if (counted !== undefined) {
      this.line += counted.lines;
      this.lineStart = counted.last + 1;
    }
    this.countedTo = offset;
    const origin = this.origin;
    return {
      offset: origin.offset + offset,
      line: origin.line + this.line,
      // Until the first newline, the line is the one the origin sits on.
      lineStart: this.line === 0 ? origin.lineStart : origin.offset + this.lineStart,
    };
  }

  /** Index just after the value at `index`. */
  private skip(index: number): number {
    const byte = this.bytes[this.offsets[index] as number];
    return byte === 0x7b || byte === 0x5b ? (this.matches[index] as number) + 1 : index + 1;
  }

  /** The value at `index` with `selection` applied, as JsonCursor.value() builds it; sets `next`. */
  value(index: number, selection: Projection): unknown {
    const at = this.offsets[index] as number;
    const byte = this.bytes[at] as number;
    if (byte === 0x7b) {
      return selection === true ? this.wholeObject(index) : this.projectedObject(index, selection);
    }
    if (byte === 0x5b) return this.array(index, selection);
    this.next = index + 1;
    if (byte === 0x22) return this.string(at, this.stringEnd(index));
    if (byte === 0x74) return true;
    if (byte === 0x66) return false;
    if (byte === 0x6e) return null;
    return Number(this.bytes.toString('latin1', at, this.scalarEnd(at)));
  }

  /** Offset of the closing quote of the string at `index`: the last non-blank byte before what follows. */
  private stringEnd(index: number): number {
    const bytes = this.bytes;
    let end = (this.offsets[index + 1] as number) - 1;
    while (bytes[end] !== 0x22) end--;
    return end;
  }

  private scalarEnd(at: number): number {
    const bytes = this.bytes;
    let end = at + 1;
    for (;;) {
      const byte = bytes[end];
      // Digits, sign, decimal point and exponent: what stage 2 accepted as a number.
      if (
        byte === undefined ||
        !(
          (byte >= 0x30 && byte <= 0x39) ||
          byte === 0x2e ||
          byte === 0x2b ||
          byte === 0x2d ||
          (byte | 0x20) === 0x65
        )
      ) {
        return end;
      }
      end++;
    }
  }

  /** Decodes the string between `quote` (the opening quote) and `end` (the closing quote). */
  private string(quote: number, end: number): string {
    const bytes = this.bytes;
    const start = quote + 1;
    const flags = blockFlagsOf(this.blockFlags, start, end);
    // Only blocks that hold a backslash can hold an escape.
    if ((flags & BLOCK_BACKSLASH) !== 0) {
      for (let pos = start; pos < end; pos++) {
        if (bytes[pos] === 0x5c) return decodeJsonString(bytes, start, end);
      }
    }
    // Text without escapes or multi-byte characters is its own decoding.
    return bytes.toString((flags & BLOCK_NON_ASCII) !== 0 ? 'utf8' : 'latin1', start, end);
  }

  private array(index: number, selection: Projection): unknown[] {
    const end = this.matches[index] as number;
    const result: unknown[] = [];
    let element = index + 1;
    while (element < end) {
      result.push(this.value(element, selection));
      element = this.next + 1;
    }
    this.next = end + 1;
    return result;
  }

  private wholeObject(index: number): Record<string, unknown> {
    const end = this.matches[index] as number;
    const result: Record<string, unknown> = {};
    let key = index + 1;
    while (key < end) {
      const name = this.string(this.offsets[key] as number, this.stringEnd(key));
      assignMember(result, name, this.value(key + 2, true));
      key = this.next + 1;
    }
    this.next = end + 1;
    return result;
  }

  /** Keys are matched on their bytes; unselected values are stepped over through the index. */
  private projectedObject(index: number, node: ProjectionNode): Record<string, unknown> {
    const bytes = this.bytes;
    const offsets = this.offsets;
    const end = this.matches[index] as number;
    const result: Record<string, unknown> = {};
    let positions: PositionTable | undefined;
    let key = index + 1;
    while (key < end) {
      const keyStart = (offsets[key] as number) + 1;
      const keyEnd = this.stringEnd(key);
      const value = key + 2;
      const entry = findEntry(node, bytes, keyStart, keyEnd, this.blockFlags);
      if (entry !== undefined) {
        if (entry.positioned) {
          positions ??= {};
          positions[entry.key] = this.position(offsets[value] as number);
        }
        assignMember(result, entry.key, this.value(value, entry.projection));
      } else if (node.others !== undefined) {
        assignMember(result, this.string(keyStart - 1, keyEnd), this.value(value, node.others));
      } else {
        this.next = this.skip(value);
      }
      key = this.next + 1;
    }
    this.next = end + 1;
    if (positions !== undefined)
      Object.defineProperty(result, POSITIONS, { value: positions, enumerable: false });
    return result;
  }
}

/** The flags of the blocks that `bytes[start, end)` touches, together. */
function blockFlagsOf(blockFlags: Uint8Array, start: number, end: number): number {
  let flags = 0;
  for (let block = start >> 6; block <= (end - 1) >> 6; block++)
    flags |= blockFlags[block] as number;
  return flags;
}

/**
 * The projection entry for the key in `bytes[start, end)`; escaped keys are matched decoded. Only a
 * key in a block that holds a backslash can be escaped.
 */
function findEntry(
  node: ProjectionNode,
  bytes: Buffer,
  start: number,
  end: number,
  blockFlags: Uint8Array,
): ProjectionEntry | undefined {
  const candidates = node.byLength[end - start];
  if (candidates !== undefined) {
    for (const entry of candidates) {
      const expected = entry.bytes;
      let at = 0;
      while (at < expected.length && expected[at] === bytes[start + at]) at++;
      if (at === expected.length) return entry;
    }
  }
  if ((blockFlagsOf(blockFlags, start, end) & BLOCK_BACKSLASH) === 0) return undefined;
  for (let pos = start; pos < end; pos++) {
    if (bytes[pos] === 0x5c) {
      return findEntryByName(node.entries, decodeJsonString(bytes, start, end));
    }
  }
  return undefined;
}
