import { fstatSync, readSync } from 'node:fs';

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

/** Reused by every search this thread makes. */
const search = Buffer.allocUnsafe(SEARCH_BYTES);

/** Reads until `target` is full or the file ends; returns how many bytes were read. */
export function readFileBytes(fd: number, target: Uint8Array, position: number): number {
  let total = 0;
  while (total < target.length) {
    const count = readSync(fd, target, total, target.length - total, position + total);
    if (count === 0) break;
    total += count;
  }
  return total;
}

/** The first cut at or after `after`, or the end of the file when there is none. */
function firstCut(
  fd: number,
  pattern: Uint8Array,
  cut: number,
  after: number,
): { offset: number; found: boolean } {
  let position = Math.max(after - cut, 0);
  for (;;) {
    const count = readFileBytes(fd, search, position);
    const found = search.subarray(0, count).indexOf(pattern);
    if (found !== -1) return { offset: position + found + cut, found: true };
    if (count < search.length) return { offset: fstatSync(fd).size, found: false };
    position += count - pattern.length + 1;
  }
}

/**
 * Where a region lies: two short searches around its ends, so that its bytes can then be read a
 * slice at a time, each just before it is parsed.
 */
export function locateFileRegion(spec: FileRegion): FileSpan {
  const { fd, pattern, cut } = spec;
  const start =
    'at' in spec.from ? spec.from.at : firstCut(fd, pattern, cut, spec.from.after).offset;
  // The end is the first cut of a pattern that starts inside the region, so a region is never empty.
  const end = firstCut(fd, pattern, cut, Math.max(spec.toAfter, start + cut));
  return { start, end: end.offset, final: !end.found };
}
