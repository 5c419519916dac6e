import { Worker } from 'node:worker_threads';
import type { JsonWindow, ListContext, ListItemsDelegate } from '#shared/input/json-documents.ts';
import type { AggregationData } from './aggregation.ts';
import { parseRegion, RELATIVE_ITEM, type RegionResult, type RegionTask } from './list-region.ts';
import type { InputProblem, SourceLocation } from './model.ts';

// Parses the items of a List region by region: on worker threads for large inputs, on the calling thread
// otherwise (InlineRegionRunner). The main thread only cuts the byte stream into
// regions at likely item boundaries — a line holding just the item indentation and `},` in indented
// dumps, `},{"<first key>":` in compact ones — and hands them to workers; results are applied in input
// order, and a cut that fell inside an item is detected by the worker and re-cut.

const REGION_BYTES = 4 << 20;
const SNIFF_BYTES = 64 << 10;

/** What parses regions: worker threads, or the calling thread. */
export interface RegionRunner {
  /** Regions worth keeping in flight per runner. */
  readonly size: number;
  /** Whether a task's bytes cross to another thread (and so must be a copy the runner may take). */
  readonly transfers: boolean;
  run(input: Omit<RegionTask, 'id'>): Promise<RegionResult>;
  close(): Promise<void>;
}

/** Parses each region on the calling thread as soon as it is cut, reading the window's own bytes. */
export class InlineRegionRunner implements RegionRunner {
  readonly size = 1;
  readonly transfers = false;
  private nextId = 0;

  run(input: Omit<RegionTask, 'id'>): Promise<RegionResult> {
    try {
      return Promise.resolve(parseRegion({ ...input, id: this.nextId++ }));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  async close(): Promise<void> {}
}

/** Worker threads that parse regions; tasks are spread over the least busy worker. */
export class RegionWorkerPool implements RegionRunner {
  readonly transfers = true;
  private readonly workers: {
    worker: Worker;
    pending: Map<number, (result: RegionResult) => void>;
  }[] = [];
  private readonly failures = new Map<number, (error: Error) => void>();
  private failed: Error | undefined;
  /** Task ids are the pool's: results of a reader that stopped early must not match another's tasks. */
  private nextId = 0;

  constructor(size: number) {
    const url = new URL(
      import.meta.url.endsWith('.ts') ? './list-worker.ts' : './list-worker.mjs',
      import.meta.url,
    );
    for (let i = 0; i < size; i++) {
      const worker = new Worker(url);
      const pending = new Map<number, (result: RegionResult) => void>();
      worker.on('message', (result: RegionResult) => {
        pending.get(result.id)?.(result);
        pending.delete(result.id);
        this.failures.delete(result.id);
      });
      worker.on('error', (error) => this.fail(error));
      worker.on('exit', (code) => {
        if (pending.size > 0) this.fail(new Error(`a parser thread exited with code ${code}`));
      });
      this.workers.push({ worker, pending });
    }
  }

  get size(): number {
    return this.workers.length;
  }

  private fail(error: Error): void {
    this.failed ??= error;
    for (const reject of this.failures.values()) reject(error);
    this.failures.clear();
  }

  run(input: Omit<RegionTask, 'id'>): Promise<RegionResult> {
    if (this.failed !== undefined) return Promise.reject(this.failed);
    const task: RegionTask = { ...input, id: this.nextId++ };
    let target = this.workers[0];
    for (const candidate of this.workers) {
      if (target === undefined || candidate.pending.size < target.pending.size) target = candidate;
    }
    if (target === undefined) return Promise.reject(new Error('no parser threads'));
    const chosen = target;
    return new Promise((resolve, reject) => {
      chosen.pending.set(task.id, resolve);
      this.failures.set(task.id, reject);
      chosen.worker.postMessage(task, [task.bytes.buffer as ArrayBuffer]);
    });
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map(({ worker }) => worker.terminate()));
  }
}

/** Where a region sits in the input, to turn its relative positions into absolute ones. */
interface Rebase {
  /** 0-based line of the region's first byte. */
  line: number;
  /** Columns on the region's first line are offset by the bytes before the region on that line. */
  firstLineColumns: number;
  itemIndex: number;
}

function rebasePath(path: string, prefixLength: number, itemIndex: number): string {
  const marker = path.indexOf(`[${RELATIVE_ITEM}`, prefixLength);
  if (marker === -1) return path;
  const close = path.indexOf(']', marker);
  const relative = Number(path.slice(marker + 2, close));
  return `${path.slice(0, marker)}[${relative + itemIndex}]${path.slice(close + 1)}`;
}

function rebasePosition<T extends { line?: number; column?: number }>(
  target: T,
  rebase: Rebase,
): void {
  if (target.line === undefined) return;
  if (target.line === 1 && target.column !== undefined) target.column += rebase.firstLineColumns;
  target.line += rebase.line;
}

function rebaseResult(result: RegionResult, rebase: Rebase, prefixLength: number): void {
  // Merged sites share their location with the sites that shaped them; each is moved once.
  const rebased = new Set<SourceLocation>();
  for (const aggregate of result.aggregation.aggregates.values()) {
    for (const fold of aggregate.sites.values()) {
      for (const { site } of fold.shapers) {
        const location: SourceLocation = site.location;
        if (rebased.has(location)) continue;
        rebased.add(location);
        if (location.path !== undefined)
          location.path = rebasePath(location.path, prefixLength, rebase.itemIndex);
        rebasePosition(location, rebase);
      }
    }
  }
  for (const problem of result.problems) {
    if (problem.path !== undefined)
      problem.path = rebasePath(problem.path, prefixLength, rebase.itemIndex);
    rebasePosition(problem, rebase);
  }
}

/** What cuts a region: a byte pattern and where in it the boundary (after the `,`) lies. */
interface Boundary {
  pattern: Buffer;
  /** Offset from the pattern's start to just after the item separator. */
  cut: number;
}

function isBlank(byte: number | undefined): boolean {
  return byte === 0x20 || byte === 0x0a || byte === 0x0d || byte === 0x09;
}

/** Looks at the first item to learn how items are laid out. */
function detectBoundary(buffer: Buffer, start: number, end: number): Boundary | undefined {
  let pos = start;
  let lastNewline = -1;
  while (pos < end && isBlank(buffer[pos])) {
    if (buffer[pos] === 0x0a) lastNewline = pos;
    pos++;
  }
  if (pos >= end || buffer[pos] !== 0x7b) return undefined;
  if (lastNewline !== -1) {
    const indent = buffer.subarray(lastNewline + 1, pos);
    if (!indent.every((byte) => byte === 0x20 || byte === 0x09)) return undefined;
    const pattern = Buffer.concat([Buffer.from('\n'), indent, Buffer.from('},')]);
    return { pattern, cut: pattern.length };
  }
  let keyEnd = pos + 2;
  if (buffer[pos + 1] !== 0x22) return undefined;
  while (keyEnd < end && buffer[keyEnd] !== 0x22 && buffer[keyEnd] !== 0x5c) keyEnd++;
  if (keyEnd >= end || buffer[keyEnd] !== 0x22 || buffer[keyEnd + 1] !== 0x3a) return undefined;
  const pattern = Buffer.concat([Buffer.from('},'), buffer.subarray(pos, keyEnd + 2)]);
  return { pattern, cut: 2 };
}

export interface ParallelListOptions {
  pool: RegionRunner;
  nodeGroupLabels: readonly string[];
  onAggregation(aggregation: AggregationData): void;
  onProblem(problem: InputProblem): void;
  onItems(count: number): void;
  onProgress?(bytes: number): void;
  regionBytes?: number;
}

interface InFlight {
  start: number;
  end: number;
  final: boolean;
  result: Promise<RegionResult>;
}

export class ParallelListReader implements ListItemsDelegate {
  private readonly options: ParallelListOptions;

  constructor(options: ParallelListOptions) {
    this.options = options;
  }

  private async ensure(window: JsonWindow, absoluteEnd: number): Promise<void> {
    while (!window.eof && window.base + window.end < absoluteEnd) await window.fill();
  }

  /**
   * Picks the end of the region starting at `start` (absolute offsets). After a cut fell inside an item,
   * `beyond` is that cut: the item runs past it, so the next cut must lie further.
   */
  private async cut(
    window: JsonWindow,
    start: number,
    boundary: Boundary,
    beyond: number,
  ): Promise<{ end: number; final: boolean }> {
    const regionBytes = this.options.regionBytes ?? REGION_BYTES;
    const { pattern, cut } = boundary;
    await this.ensure(window, start + regionBytes + pattern.length);
    if (window.eof && window.base + window.end - start <= regionBytes) {
      return { end: window.base + window.end, final: true };
    }
    // The last boundary within one region's length, unless it is not past `beyond`.
    const backwards = window.buffer
      .subarray(0, window.end)
      .lastIndexOf(pattern, start - window.base + regionBytes);
    if (
      backwards !== -1 &&
      window.base + backwards >= start &&
      window.base + backwards + cut > beyond
    ) {
      return { end: window.base + backwards + cut, final: false };
    }
    // Otherwise the first boundary further on, reading more input as needed (an item larger than a region).
    let searchFrom = Math.max(start, beyond - cut + 1);
    for (;;) {
      const forwards = window.buffer
        .subarray(0, window.end)
        .indexOf(pattern, Math.max(0, searchFrom - window.base));
      if (forwards !== -1) return { end: window.base + forwards + cut, final: false };
      if (window.eof) return { end: window.base + window.end, final: true };
      searchFrom = Math.max(searchFrom, window.base + window.end - pattern.length + 1);
      await window.fill();
    }
  }

  async consume(
    window: JsonWindow,
    context: ListContext,
  ): Promise<'closed' | 'stopped' | 'declined'> {
    await this.ensure(window, window.base + window.start + SNIFF_BYTES);
    const boundary = detectBoundary(window.buffer, window.start, window.end);
    if (boundary === undefined) return 'declined';
    const { pool } = this.options;
    const prefixLength = context.pathPrefix.length;
    const inFlight: InFlight[] = [];
    let nextStart = window.base + window.start;
    let atListStart = true;
    let rebase: Rebase = {
      line: window.line,
      firstLineColumns: window.start - window.lineStart,
      itemIndex: 0,
    };
    let lineStart = window.base + window.lineStart;
    let beyond = nextStart;
    const maxInFlight = pool.size * 2;

    const dispatch = async (): Promise<void> => {
      while (inFlight.length < maxInFlight && inFlight.at(-1)?.final !== true) {
        const { end, final } = await this.cut(window, nextStart, boundary, beyond);
        const from = nextStart - window.base;
        const view = window.buffer.subarray(from, from + end - nextStart);
        // A runner on this thread parses the region before the window moves; a worker gets a copy.
        const bytes = pool.transfers ? new Uint8Array(view) : view;
        const task: Omit<RegionTask, 'id'> = {
          bytes,
          file: context.file,
          document: context.document,
          pathPrefix: context.pathPrefix,
          listItemKind: context.listItemKind,
          atListStart,
          final,
          nodeGroupLabels: this.options.nodeGroupLabels,
        };
        const result = pool.run(task);
        // A result may be dropped after a mis-cut; its failure is reported through the pool.
        result.catch(() => undefined);
        inFlight.push({ start: nextStart, end, final, result });
        nextStart = end;
        atListStart = false;
      }
    };

    const abandon = (): void => {
      inFlight.length = 0;
    };

    for (;;) {
      await dispatch();
      const head = inFlight.shift();
      if (head === undefined) throw new Error('no region in flight');
      const result = await head.result;
      rebaseResult(result, rebase, prefixLength);
      for (const problem of result.problems) this.options.onProblem(problem);
      this.options.onAggregation(result.aggregation);
      this.options.onItems(result.items);
      if (result.syntaxError !== undefined) {
        const position = { line: result.syntaxError.line, column: result.syntaxError.column };
        rebasePosition(position, rebase);
        this.options.onProblem({
          file: context.file,
          document: context.document,
          line: position.line,
          message: `invalid JSON at line ${position.line}, column ${position.column}: ${result.syntaxError.message}`,
        });
        abandon();
        return 'stopped';
      }
      if (result.newlines > 0) lineStart = head.start + result.lastLineStart;
      const consumedTo = result.closedAt ?? result.consumed;
      const line = rebase.line + result.newlines;
      window.commit({
        pos: head.start + consumedTo - window.base,
        line,
        lineStart: lineStart - window.base,
      });
      this.options.onProgress?.(head.start + consumedTo);
      const resumeAt = head.start + consumedTo;
      rebase = {
        line,
        firstLineColumns: resumeAt - lineStart,
        itemIndex: rebase.itemIndex + result.items,
      };
      if (result.closedAt !== undefined) {
        abandon();
        return 'closed';
      }
      if (resumeAt !== head.end) {
        // The cut fell inside an item: later regions started in the wrong place.
        abandon();
        nextStart = resumeAt;
        beyond = head.end;
        atListStart =
          atListStart || (result.items === 0 && head.start === resumeAt && rebase.itemIndex === 0);
      }
    }
  }
}
