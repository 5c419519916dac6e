import type { InputDocument } from '#shared/input/documents.ts';
import {
  JsonCursor,
  JsonSyntaxError,
  NeedMoreInput,
  positionsOf,
} from '#shared/input/json-projection.ts';
import { extractObject, type ObjectFacts } from '#shared/workload/extract.ts';
import { KUBERNETES_OBJECT_PROJECTION } from '#shared/workload/projection.ts';
import type { InputProblem } from './model.ts';

// Parses a slice of a List's items (a "region") into object facts. Regions are cut by the main thread
// at guessed item boundaries so that several threads can parse one dump; a guess that turns out to be
// inside an item shows up as `consumed` short of the region's length, and the main thread re-cuts.
//
// Positions in the result are relative to the region: lines count from 1 at the region's start, and on
// that first line columns count from the region's start. The main thread rebases them in input order.

export interface RegionTask {
  id: number;
  bytes: Uint8Array;
  file: string;
  document: number;
  pathPrefix: string;
  listItemKind: InputDocument['listItemKind'];
  /** The region starts right after `[` (so `]` may close an empty list), not after a `,`. */
  atListStart: boolean;
  /** No input follows the region. */
  final: boolean;
  nodeGroupLabels: readonly string[];
}

export interface RegionResult {
  id: number;
  facts: ObjectFacts[];
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
}

/** Item paths in a region are numbered from 0 with this marker; the main thread renumbers them. */
export const RELATIVE_ITEM = '#';

export function parseRegion(task: RegionTask): RegionResult {
  const bytes = Buffer.from(task.bytes.buffer, task.bytes.byteOffset, task.bytes.byteLength);
  const cursor = new JsonCursor(bytes, 0, bytes.length, task.final, 0, 0);
  const result: RegionResult = {
    id: task.id,
    facts: [],
    problems: [],
    items: 0,
    consumed: 0,
    closedAt: undefined,
    newlines: 0,
    lastLineStart: 0,
    syntaxError: undefined,
  };
  const locate: InputDocument['locate'] = (holder, key) => {
    const position = positionsOf(holder)?.[key];
    return position === undefined
      ? undefined
      : { line: position.line + 1, column: position.offset - position.lineStart + 1 };
  };
  // Facts of the item being read are kept back until its separator is seen.
  let pending: { facts: ObjectFacts | undefined; problems: InputProblem[] } | undefined;
  let expectValue = true;
  const commit = (): void => {
    if (pending !== undefined) {
      if (pending.facts !== undefined) result.facts.push(pending.facts);
      result.problems.push(...pending.problems);
      pending = undefined;
      result.items++;
    }
    result.consumed = cursor.pos;
    result.newlines = cursor.line;
    result.lastLineStart = cursor.lineStart;
  };
  try {
    for (;;) {
      const next = cursor.peek();
      if (expectValue) {
        if (next === 0x5d && task.atListStart && result.items === 0 && pending === undefined) {
          cursor.pos++;
          result.closedAt = cursor.pos;
          commit();
          break;
        }
        if (next === -1 && !task.final && pending === undefined) break;
        const value = cursor.value(KUBERNETES_OBJECT_PROJECTION);
        const index = result.items;
        const source = {
          file: task.file,
          document: task.document,
          itemPath: `${task.pathPrefix}[${RELATIVE_ITEM}${index}]`,
        };
        pending = extractObject(value, source, {
          nodeGroupLabels: task.nodeGroupLabels,
          locate,
          ...(task.listItemKind === undefined ? {} : { listItemKind: task.listItemKind }),
        });
        expectValue = false;
      } else if (next === 0x2c) {
        cursor.pos++;
        commit();
        expectValue = true;
      } else if (next === 0x5d) {
        cursor.pos++;
        result.closedAt = cursor.pos;
        commit();
        break;
      } else if (next === -1 && !task.final) {
        break;
      } else {
        cursor.fail(
          next === -1 ? 'unexpected end of input' : 'expected "," or "]" between list items',
        );
      }
    }
  } catch (error) {
    if (error instanceof JsonSyntaxError) {
      result.syntaxError = {
        message: error.reason,
        line: error.line + 1,
        column: error.offset - error.lineStart + 1,
      };
    } else if (!(error instanceof NeedMoreInput)) {
      throw error;
    }
  }
  return result;
}
