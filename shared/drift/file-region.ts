import { readSync } from 'node:fs';

// A parser thread reads its region of a regular file itself, so the main thread never reads or copies
// the items of a large dump. Regions are delimited by cuts: positions just after a byte pattern that
// separates items in the list's layout. A region ends at the first cut at or after an offset, and the
// next region starts at the first cut at or after that same offset, so threads that never see each
// other's bytes still agree on where one region stops and the next begins.

export interface FileRegion {
  /** A descriptor of the file, open for as long as the region is in flight. */
  fd: number;
  /** The region starts exactly at `at`, or at the first cut at or after `after`. */
  from: { at: number } | { after: number };
  /** The region ends at the first cut at or after this offset, or at the end of the file. */
  toAfter: number;
  /** What marks a cut, and the cut's offset from the pattern's start. */
  pattern: Uint8Array;
  cut: number;
}

/** Where a region turned out to lie; `final` when it runs to the end of the file. */
export interface FileSpan {
  start: number;
  end: number;
  final: boolean;
}

const SEARCH_BYTES = 64 << 10;

/** Reused by every region this thread reads. */
let region = Buffer.allocUnsafe(8 << 20);
const search = Buffer.allocUnsafe(SEARCH_BYTES);

/** Reads until `length` bytes are in or the file ends; returns how many were read. */
function readFully(
  fd: number,
  target: Buffer,
  offset: number,
  length: number,
  position: number,
): number {
  let total = 0;
  while (total < length) {
    const count = readSync(fd, target, offset + total, length - total, position + total);
    if (count === 0) break;
    total += count;
  }
  return total;
}

/** The first cut at or after `after`, or the end of the file. */
function firstCut(fd: number, pattern: Uint8Array, cut: number, after: number): number {
  let position = Math.max(after - cut, 0);
  for (;;) {
    const count = readFully(fd, search, 0, search.length, position);
    const found = search.subarray(0, count).indexOf(pattern);
    if (found !== -1) return position + found + cut;
    if (count < search.length) return position + count;
    position += count - pattern.length + 1;
  }
}

/** Reads a region's bytes; they stay valid until this thread reads the next region. */
export function readFileRegion(spec: FileRegion): { bytes: Buffer; span: FileSpan } {
  const { fd, pattern, cut } = spec;
  const start = 'at' in spec.from ? spec.from.at : firstCut(fd, pattern, cut, spec.from.after);
  let filled = 0;
  let eof = false;
  const fill = (upTo: number): void => {
    if (upTo > region.length) {
      const grown = Buffer.allocUnsafe(Math.max(upTo, region.length * 2));
      region.copy(grown, 0, 0, filled);
      region = grown;
    }
    const count = readFully(fd, region, filled, upTo - filled, start + filled);
    eof = count < upTo - filled;
    filled += count;
  };
  fill(Math.max(spec.toAfter - start, 0) + SEARCH_BYTES);
  // Pattern occurrences whose cut is at or after `toAfter`, within the region.
  let from = Math.max(spec.toAfter - cut - start, 0);
  for (;;) {
    const found = region.subarray(0, filled).indexOf(pattern, from);
    if (found !== -1) {
      return {
        bytes: region.subarray(0, found + cut),
        span: { start, end: start + found + cut, final: false },
      };
    }
    if (eof) {
      return {
        bytes: region.subarray(0, filled),
        span: { start, end: start + filled, final: true },
      };
    }
    from = Math.max(from, filled - pattern.length + 1);
    fill(filled * 2);
  }
}
