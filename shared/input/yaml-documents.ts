import { type Document, isNode, LineCounter, parseDocument } from 'yaml';
import type { ByteSource } from './byte-source.ts';
import { type DocumentSink, type InputDocument, itemKindOfList } from './documents.ts';

// Streams the Kubernetes objects of a YAML input. Documents are split at `---`/`...` markers, which YAML
// forbids inside content at the start of a line, so splitting is exact. The items of a List printed
// the way kubectl prints it (`items:` then `- ` entries at one indentation) are split the same way, so a
// whole-cluster dump is parsed one object at a time.

const MAX_ALIASES = 100;
const DOCUMENT_MARKER = /^(?:---|\.\.\.)(?:[ \t]|$)/;
const ITEMS_KEY = /^items:[ \t]*(?:#.*)?$/;
const ITEM_START = /^([ ]*)-(?:[ \t]|$)/;

interface Line {
  text: string;
  /** 1-based line number in the input. */
  number: number;
}

/** Yields the lines of a byte source, decoding UTF-8 across chunk boundaries. */
async function* lines(
  source: ByteSource,
  progress: ((bytes: number) => void) | undefined,
): AsyncGenerator<Line> {
  const decoder = new TextDecoder('utf-8');
  const buffer = Buffer.allocUnsafe(1 << 20);
  let carry = '';
  let number = 0;
  let consumed = 0;
  for (;;) {
    const count = await source.read(buffer, 0, buffer.length);
    const text = carry + decoder.decode(buffer.subarray(0, count), { stream: count > 0 });
    const parts = text.split('\n');
    carry = count === 0 ? '' : (parts.pop() ?? '');
    for (const part of parts) {
      number++;
      yield { text: part.endsWith('\r') ? part.slice(0, -1) : part, number };
    }
    consumed += count;
    progress?.(consumed);
    if (count === 0) {
      if (carry !== '') yield { text: carry, number: number + 1 };
      return;
    }
  }
}

function hasContent(block: readonly Line[]): boolean {
  return block.some((line) => {
    const trimmed = line.text.trim();
    return (
      trimmed !== '' &&
      !trimmed.startsWith('#') &&
      !DOCUMENT_MARKER.test(line.text) &&
      !trimmed.startsWith('%')
    );
  });
}

interface ParsedBlock {
  document: Document;
  lineCounter: LineCounter;
  firstLine: number;
}

function parseBlock(block: readonly Line[]): ParsedBlock {
  const lineCounter = new LineCounter();
  const text = block.map((line) => line.text).join('\n');
  const document = parseDocument(text, { lineCounter, uniqueKeys: true, prettyErrors: false });
  return { document, lineCounter, firstLine: block[0]?.number ?? 1 };
}

function locatorFor(
  parsed: ParsedBlock,
  prefix: readonly (string | number)[],
): InputDocument['locate'] {
  return (_holder, _key, path) => {
    const node = parsed.document.getIn([...prefix, ...path], true);
    if (!isNode(node) || node.range === undefined || node.range === null) return undefined;
    const position = parsed.lineCounter.linePos(node.range[0]);
    return { line: parsed.firstLine + position.line - 1, column: position.col };
  };
}

export async function readYamlDocuments(
  source: ByteSource,
  file: string,
  sink: DocumentSink,
): Promise<void> {
  let document = 0;
  let block: Line[] = [];
  // For a kubectl-style List: lines before `items:`, the current item, and the item indentation.
  let listHeader: Line[] | undefined;
  let itemIndent: number | undefined;
  let itemIndex = 0;
  let listItemKind: InputDocument['listItemKind'];
  // After a List's items, its own trailing fields (`kind: List`, `metadata:`) run to the next marker.
  let inListTrailer = false;

  const problemAt = (line: number, message: string): void =>
    sink.problem({ file, document, line, message });

  /** The block's value, or undefined after reporting its syntax error. */
  const blockValue = (parsed: ParsedBlock): unknown => {
    const error = parsed.document.errors[0];
    if (error !== undefined) {
      const position = parsed.lineCounter.linePos(error.pos[0]);
      const line = parsed.firstLine + position.line - 1;
      problemAt(
        line,
        `invalid YAML at line ${line}, column ${position.col}: ${error.message.split('\n')[0]}`,
      );
      return undefined;
    }
    try {
      return parsed.document.toJS({ maxAliasCount: MAX_ALIASES });
    } catch (error) {
      // Alias expansion beyond the limit (a "billion laughs" document) is refused, not expanded.
      problemAt(parsed.firstLine, `document refused: ${(error as Error).message}`);
      return undefined;
    }
  };

  const deliver = (value: unknown, itemPath: string, locate: InputDocument['locate']): void => {
    const event: InputDocument = { value, source: { file, document, itemPath }, locate };
    if (listItemKind !== undefined) event.listItemKind = listItemKind;
    sink.document(event);
  };

  const flushDocument = (): void => {
    if (!hasContent(block)) {
      block = [];
      return;
    }
    document++;
    const parsed = parseBlock(block);
    block = [];
    const value = blockValue(parsed);
    if (value === undefined) return;
    const record =
      typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : undefined;
    if (
      record !== undefined &&
      Array.isArray(record.items) &&
      typeof record.kind === 'string' &&
      record.kind.endsWith('List')
    ) {
      listItemKind = itemKindOfList(record.kind, record.apiVersion);
      for (const [index, item] of record.items.entries()) {
        deliver(item, `items[${index}]`, locatorFor(parsed, ['items', index]));
      }
      listItemKind = undefined;
      return;
    }
    if (value === null) return;
    deliver(value, '', locatorFor(parsed, []));
  };

  const flushItem = (): void => {
    if (!hasContent(block)) {
      block = [];
      return;
    }
    const first = block[0] as Line;
    // Turn `- key: value` into `  key: value` so the item parses as a mapping with unchanged columns.
    const rewritten: Line[] = [
      { text: first.text.replace(/-/, ' '), number: first.number },
      ...block.slice(1),
    ];
    block = [];
    const parsed = parseBlock(rewritten);
    const value = blockValue(parsed);
    if (value !== undefined) deliver(value, `items[${itemIndex}]`, locatorFor(parsed, []));
    itemIndex++;
  };

  const endList = (): void => {
    flushItem();
    listHeader = undefined;
    itemIndent = undefined;
    listItemKind = undefined;
  };

  for await (const line of lines(source, sink.progress?.bind(sink))) {
    if (DOCUMENT_MARKER.test(line.text)) {
      if (listHeader !== undefined) endList();
      else if (inListTrailer) inListTrailer = false;
      else flushDocument();
      block.push(line);
      continue;
    }
    if (inListTrailer) continue;
    if (listHeader !== undefined) {
      const start = ITEM_START.exec(line.text);
      if (start !== null && itemIndent === undefined) itemIndent = (start[1] as string).length;
      if (start !== null && (start[1] as string).length === itemIndent) {
        flushItem();
        block.push(line);
        continue;
      }
      const trimmed = line.text.trimStart();
      const indent = line.text.length - trimmed.length;
      if (
        trimmed !== '' &&
        !trimmed.startsWith('#') &&
        indent <= (itemIndent ?? 0) &&
        start === null
      ) {
        // Back at the List's own fields (`kind: List`, `metadata:`): the items are done.
        endList();
        inListTrailer = true;
        continue;
      }
      block.push(line);
      continue;
    }
    if (ITEMS_KEY.test(line.text)) {
      document++;
      listHeader = block;
      listItemKind = headerItemKind(block);
      itemIndex = 0;
      block = [];
      continue;
    }
    block.push(line);
  }
  if (listHeader !== undefined) endList();
  else flushDocument();
}

function headerItemKind(block: readonly Line[]): InputDocument['listItemKind'] {
  let kind: string | undefined;
  let apiVersion: string | undefined;
  for (const line of block) {
    const match = /^(kind|apiVersion):[ \t]*["']?([^"'#\s]+)["']?/.exec(line.text);
    if (match?.[1] === 'kind') kind = match[2];
    if (match?.[1] === 'apiVersion') apiVersion = match[2];
  }
  return itemKindOfList(kind, apiVersion);
}
