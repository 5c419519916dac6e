import type { ByteSource, SeekableFile } from './byte-source.ts';
import { type DocumentSink, type InputDocument, itemKindOfList } from './documents.ts';
import {
  JSON_ERRORS,
  JsonCursor,
  JsonSyntaxError,
  NeedMoreInput,
  type Projection,
  type ProjectionNode,
  positionsOf,
} from './json-projection.ts';

// Streams the Kubernetes objects of a JSON input: one object, a List (`{"items": [...]}`), a bare array,
// or several such values one after another. Items are parsed one at a time from a sliding window, so
// memory stays bounded by the largest single object.

const INITIAL_WINDOW = 4 << 20;

/** A sliding window over the input; offsets are buffer-relative, `base` maps them to the input. */
export class JsonWindow {
  buffer = Buffer.allocUnsafe(INITIAL_WINDOW);
  /** Committed position: everything before it has been consumed. */
  start = 0;
  end = 0;
  base = 0;
  eof = false;
  /** 0-based line of `start` and buffer offset where that line begins (may be negative). */
  line = 0;
  lineStart = 0;
  private readonly source: ByteSource;

  constructor(source: ByteSource) {
    this.source = source;
  }

  cursor(): JsonCursor {
    return new JsonCursor(this.buffer, this.start, this.end, this.eof, this.line, this.lineStart);
  }

  commit(cursor: { pos: number; line: number; lineStart: number }): void {
    this.start = cursor.pos;
    this.line = cursor.line;
    this.lineStart = cursor.lineStart;
  }

  /** The input when it is a regular file, which other threads may read themselves. */
  get file(): SeekableFile | undefined {
    return this.source.file;
  }

  /**
   * Continues at `position` of a regular file, whose bytes up to there were read elsewhere; `line` and
   * `lineStart` (both absolute) place it for line and column numbers.
   */
  seek(position: number, line: number, lineStart: number): void {
    const file = this.source.file;
    if (file === undefined) throw new Error('the input cannot seek');
    file.seek(position);
    this.base = position;
    this.start = 0;
    this.end = 0;
    this.eof = false;
    this.line = line;
    this.lineStart = lineStart - position;
  }

  /** Reads more input, sliding out consumed bytes and growing when one value outgrows the window. */
  async fill(): Promise<void> {
    if (this.eof) return;
    // Sliding copies the bytes not yet consumed: only worth it once they are no more than the consumed
    // ones, so that copying stays linear in the input when a reader keeps much of it buffered.
    if (this.start > 0 && this.start >= this.end - this.start) this.discardConsumed(this.buffer);
    if (this.end === this.buffer.length)
      this.discardConsumed(Buffer.allocUnsafe(this.buffer.length * 2));
    const count = await this.source.read(this.buffer, this.end, this.buffer.length - this.end);
    if (count === 0) this.eof = true;
    this.end += count;
  }

  /** Moves the bytes not yet consumed to the start of `target`, which becomes the buffer. */
  private discardConsumed(target: Buffer<ArrayBuffer>): void {
    this.buffer.copy(target, 0, this.start, this.end);
    this.buffer = target;
    this.base += this.start;
    this.lineStart -= this.start;
    this.end -= this.start;
    this.start = 0;
  }

  absolute(offset: number): number {
    return this.base + offset;
  }
}

export function childProjection(node: ProjectionNode, key: string): Projection | undefined {
  for (const entry of node.entries) if (entry.key === key) return entry.projection;
  return node.others;
}

/** Finds a value's line and column from the positions the JSON readers record on its holder. */
export const locateJson: InputDocument['locate'] = (holder, key) => {
  const position = positionsOf(holder)?.[key];
  return position === undefined
    ? undefined
    : { line: position.line + 1, column: position.offset - position.lineStart + 1 };
};

/** Where a list's items start, for a delegate that parses them itself. */
export interface ListContext {
  file: string;
  document: number;
  /** `items` for a List's items, empty for a top-level array. */
  pathPrefix: string;
  listItemKind: InputDocument['listItemKind'];
}

/**
 * Takes over the items of a list: starts at `window.start` (just after `[`) and returns with
 * `window.start` just after the closing `]` ('closed'), or gives up on the input ('stopped') after
 * reporting why, or leaves the items to the reader ('declined').
 */
export interface ListItemsDelegate {
  /** 'declined' leaves the window untouched and the items to the reader. */
  consume(window: JsonWindow, context: ListContext): Promise<'closed' | 'stopped' | 'declined'>;
}

type State =
  | { at: 'top' }
  | { at: 'object-key' | 'object-next'; fields: Record<string, unknown>; sawItems: boolean }
  | {
      at: 'list-item' | 'list-next';
      index: number;
      parent: ObjectState | undefined;
      offered?: boolean;
    };
type ObjectState = Extract<State, { at: 'object-key' | 'object-next' }>;

/**
 * Reads `source` and hands every object to `sink`. A syntax error ends the input (with a problem that
 * names the line and column); everything before it has been delivered.
 */
export async function readJsonDocuments(
  source: ByteSource,
  file: string,
  objectProjection: ProjectionNode,
  sink: DocumentSink,
  delegate?: ListItemsDelegate,
): Promise<void> {
  const window = new JsonWindow(source);
  await window.fill();
  let state: State = { at: 'top' };
  let document = 0;
  let listItemKind: InputDocument['listItemKind'];

  const deliver = (value: unknown, itemPath: string): void => {
    const event: InputDocument = {
      value,
      source: { file, document, itemPath },
      locate: locateJson,
    };
    if (listItemKind !== undefined) event.listItemKind = listItemKind;
    sink.document(event);
  };

  for (;;) {
    const cursor = window.cursor();
    try {
      const next = cursor.peek();
      const current = state as State;
      switch (current.at) {
        case 'top': {
          if (next === -1) {
            if (window.eof) return;
            throw new NeedMoreInput('');
          }
          document++;
          listItemKind = undefined;
          if (next === 0x5b) {
            cursor.pos++;
            state = { at: 'list-item', index: 0, parent: undefined };
          } else if (next === 0x7b) {
            cursor.pos++;
            state = { at: 'object-key', fields: {}, sawItems: false };
          } else {
            const value = cursor.value(true);
            sink.problem({
              file,
              document,
              line: cursor.line + 1,
              message: `not a Kubernetes object: the document is a JSON ${value === null ? 'null' : typeof value}`,
            });
          }
          break;
        }
        case 'object-key': {
          if (next === 0x7d) {
            cursor.pos++;
            finishObject(current);
            state = { at: 'top' };
            break;
          }
          if (next !== 0x22) cursor.fail('expected a string key or "}"');
          const key = cursor.string();
          cursor.expect(0x3a, '":"');
          if (key === 'items' && cursor.peek() === 0x5b) {
            cursor.pos++;
            listItemKind = itemKindOfList(current.fields.kind, current.fields.apiVersion);
            current.sawItems = true;
            state = { at: 'list-item', index: 0, parent: { ...current, at: 'object-next' } };
            break;
          }
          const selection = childProjection(objectProjection, key);
          const value = cursor.value(selection);
          if (selection !== undefined) current.fields[key] = value;
          state = { ...current, at: 'object-next' };
          break;
        }
        case 'object-next': {
          if (next === 0x2c) {
            cursor.pos++;
            state = { ...current, at: 'object-key' };
          } else if (next === 0x7d) {
            cursor.pos++;
            finishObject(current);
            state = { at: 'top' };
          } else {
            cursor.fail('expected "," or "}" after a field');
          }
          break;
        }
        case 'list-item': {
          if (next === 0x5d && current.index === 0) {
            cursor.pos++;
            state = current.parent ?? { at: 'top' };
            break;
          }
          const value = cursor.value(objectProjection);
          const prefix = current.parent === undefined ? '' : 'items';
          deliver(value, `${prefix}[${current.index}]`);
          state = { ...current, at: 'list-next', index: current.index + 1 };
          break;
        }
        case 'list-next': {
          if (next === 0x2c) {
            cursor.pos++;
            state = { ...current, at: 'list-item' };
          } else if (next === 0x5d) {
            cursor.pos++;
            state = current.parent ?? { at: 'top' };
          } else {
            cursor.fail(JSON_ERRORS.itemSeparator);
          }
          break;
        }
      }
      window.commit(cursor);
      sink.progress?.(window.absolute(window.start));
      if (
        delegate !== undefined &&
        state.at === 'list-item' &&
        state.index === 0 &&
        state.offered !== true
      ) {
        state.offered = true;
        const parent: ObjectState | undefined = state.parent;
        const outcome = await delegate.consume(window, {
          file,
          document,
          pathPrefix: parent === undefined ? '' : 'items',
          listItemKind,
        });
        if (outcome === 'stopped') return;
        if (outcome === 'closed') {
          state = parent ?? { at: 'top' };
          sink.progress?.(window.absolute(window.start));
        }
      }
    } catch (error) {
      if (error instanceof NeedMoreInput) {
        if (window.eof) throw new Error('reader asked for more input after the end');
        await window.fill();
        continue;
      }
      if (error instanceof JsonSyntaxError) {
        const at = { line: error.line + 1, column: error.offset - error.lineStart + 1 };
        sink.problem({
          file,
          document,
          line: at.line,
          message: `invalid JSON at line ${at.line}, column ${at.column}: ${error.reason}`,
        });
        return;
      }
      throw error;
    }
  }

  function finishObject(object: ObjectState): void {
    // An object without `items` is itself the document.
    if (!object.sawItems) deliver(object.fields, '');
  }
}
