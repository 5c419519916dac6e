import type { InputDocument } from '#shared/input/documents.ts';
import { locateJson } from '#shared/input/json-documents.ts';
import { jsonListIndexer } from '#shared/input/json-index.ts';
import type { ValuePosition } from '#shared/input/json-projection.ts';
import { extractObject } from '#shared/workload/extract.ts';
import { kubernetesObjectProjection } from '#shared/workload/projection.ts';
import { type AggregationData, WorkloadAggregation } from './aggregation.ts';
import { type FileRegion, type FileSpan, locateFileRegion, readFileBytes } from './file-region.ts';
import type { InputProblem } from './model.ts';

// Parses a slice of a List's items (a "region") and folds their facts into workload aggregates. Regions
// are cut at guessed item boundaries, by the main thread or by the thread reading them from a file, so
// that several threads can parse one dump; a guess that turns out to be inside an item shows up as
// `consumed` short of the region's length, and the main thread re-cuts.
//
// Positions in the result are relative to the region: lines count from 1 at the region's start, and on
// that first line columns count from the region's start. The main thread rebases them in input order,
// and fills in the file of every location and problem, left empty here so as not to send the same
// name once per site.

export interface RegionTask {
  id: number;
  /** The region's bytes, or where in a regular file the thread reads them itself. */
  bytes: Uint8Array | FileRegion;
  document: number;
  pathPrefix: string;
  listItemKind: InputDocument['listItemKind'];
  /** The region starts right after `[` (so `]` may close an empty list), not after a `,`. */
  atListStart: boolean;
  /** No input follows the region (for a file region, known once it is located). */
  final: boolean;
  nodeGroupLabels: readonly string[];
  /** Bytes indexed at a time (default SLICE_BYTES). */
  sliceBytes?: number;
}

export interface RegionResult {
  id: number;
  /** The region's objects folded into workloads: far less to send back than each object's facts. */
  aggregation: AggregationData;
  problems: InputProblem[];
  /** Items completed (each followed by `,` or the closing `]`). */
  items: number;
  /** Bytes up to the last item separator; everything after must be parsed again. */
  consumed: number;
  /** Offset just after the closing `]`, when the list ended in this region. */
  closedAt: number | undefined;
  /** Newlines in the consumed bytes, and where the last line of them starts. */
  newlines: number;
  lastLineStart: number;
  /** A syntax error ends the input. */
  syntaxError: { message: string; line: number; column: number } | undefined;
  /** Where a file region turned out to lie; offsets above are relative to its start. */
  span: FileSpan | undefined;
}

/** Item paths in a region are numbered from 0 with this marker; the main thread renumbers them. */
export const RELATIVE_ITEM = '#';

/** A region's bytes, copied a slice at a time into the parser's memory. */
interface RegionBytes {
  length: number;
  final: boolean;
  /** Fills `target` with the region's bytes from `offset`; returns how many it wrote. */
  copy(target: Uint8Array, offset: number): number;
}

/** Parses a region; a file region is located first, then read a slice at a time. */
export function runRegionTask(task: RegionTask): RegionResult {
  const { bytes } = task;
  if (bytes instanceof Uint8Array) {
    return parseRegion(task, {
      length: bytes.length,
      final: task.final,
      copy(target, offset) {
        target.set(bytes.subarray(offset, offset + target.length));
        return target.length;
      },
    });
  }
  const span = locateFileRegion(bytes);
  const result = parseRegion(task, {
    length: span.end - span.start,
    final: span.final,
    copy: (target, offset) => readFileBytes(bytes.fd, target, span.start + offset),
  });
  result.span = span;
  return result;
}

/**
 * Bytes indexed at a time. A region is indexed and read in slices this size, so that its bytes and
 * their index are still in the CPU's cache when the projection walk reads them.
 */
const SLICE_BYTES = 1 << 20;

function parseRegion(task: RegionTask, bytes: RegionBytes): RegionResult {
  const aggregation = new WorkloadAggregation();
  const result: RegionResult = {
    id: task.id,
    aggregation: aggregation.data,
    problems: [],
    items: 0,
    consumed: 0,
    closedAt: undefined,
    newlines: 0,
    lastLineStart: 0,
    syntaxError: undefined,
    span: undefined,
  };
  const context = {
    nodeGroupLabels: task.nodeGroupLabels,
    locate: locateJson,
    ...(task.listItemKind === undefined ? {} : { listItemKind: task.listItemKind }),
  };
  const objectProjection = kubernetesObjectProjection(task.nodeGroupLabels);
  const indexer = jsonListIndexer();
  // Each slice starts where the items of the one before it were complete; an item longer than a
  // slice widens it until the item fits.
  let origin: ValuePosition = { offset: 0, line: 0, lineStart: 0 };
  const sliceBytes = task.sliceBytes ?? SLICE_BYTES;
  let width = sliceBytes;
  for (;;) {
    const sliceEnd = Math.min(bytes.length, origin.offset + width);
    const lastSlice = sliceEnd === bytes.length;
    const from = origin.offset;
    const scan = indexer.scanInto(
      sliceEnd - from,
      (target) => bytes.copy(target, from),
      task.atListStart && from === 0,
      bytes.final && lastSlice,
      origin,
    );
    const { json } = scan;
    const itemsBefore = result.items;
    // Items are complete up to the last separator the scan reached, or up to the closing bracket.
    const last = scan.outcome === 'closed' ? scan.end : scan.separator;
    let item = 0;
    while (item <= last) {
      if (item === scan.end) {
        result.closedAt = origin.offset + json.offset(item) + 1;
        break;
      }
      const value = json.value(item, objectProjection);
      const { facts, problems } = extractObject(
        value,
        {
          file: '',
          document: task.document,
          itemPath: `${task.pathPrefix}[${RELATIVE_ITEM}${result.items}]`,
        },
        context,
      );
      if (facts !== undefined) aggregation.addFacts(facts);
      result.problems.push(...problems);
      result.items++;
      const separator = json.next;
      if (separator === scan.end) {
        result.closedAt = origin.offset + json.offset(separator) + 1;
        break;
      }
      result.consumed = origin.offset + json.offset(separator) + 1;
      item = separator + 1;
    }
    if (result.closedAt !== undefined) result.consumed = result.closedAt;
    if (scan.outcome === 'failed') {
      const at = json.position(scan.error.offset);
      result.syntaxError = {
        message: scan.error.reason,
        line: at.line + 1,
        column: at.offset - at.lineStart + 1,
      };
    }
    const done = scan.outcome !== 'incomplete' || lastSlice;
    if (done || result.items > itemsBefore) {
      const end = json.position(result.consumed - origin.offset);
      if (done) {
        result.newlines = end.line;
        result.lastLineStart = end.lineStart;
        return result;
      }
      origin = end;
      width = sliceBytes;
    } else {
      width *= 2;
    }
  }
}
