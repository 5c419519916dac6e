import { Worker } from 'node:worker_threads';
import type { SeekableFile } from '#shared/input/byte-source.ts';
import type { JsonWindow, ListContext, ListItemsDelegate } from '#shared/input/json-documents.ts';
import type { AggregationData } from './aggregation.ts';
import type { FileRegion } from './file-region.ts';
import { type PackedRegionResult, unpackRegionResult } from './fold-codec.ts';
import { RELATIVE_ITEM, type RegionResult, type RegionTask, runRegionTask } from './list-region.ts';
import type { InputProblem, SourceLocation } from './model.ts';

// Parses the items of a List region by region: on worker threads for large inputs, on the calling thread
// otherwise (InlineRegionRunner). Regions end at likely item boundaries — a line holding just the item
// indentation and `},` in indented dumps, `},{"<first key>":` in compact ones. From a regular file the
// workers read and cut their regions themselves (file-region.ts); from a stream the main thread cuts
// and hands over the bytes. Results are applied in input order, and a cut that fell inside an item is
// detected by the worker and re-cut.

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
      return Promise.resolve(runRegionTask({ ...input, id: this.nextId++ }));
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
      worker.on('message', (packed: PackedRegionResult) => {
        const resolve = pending.get(packed.id);
        const reject = this.failures.get(packed.id);
        pending.delete(packed.id);
        this.failures.delete(packed.id);
        try {
          resolve?.(unpackRegionResult(packed));
        } catch (error) {
          reject?.(error as Error);
        }
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
      const transfer = task.bytes instanceof Uint8Array ? [task.bytes.buffer as ArrayBuffer] : [];
      chosen.worker.postMessage(task, transfer);
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

function rebaseResult(
  result: RegionResult,
  rebase: Rebase,
  prefixLength: number,
  file: string,
): void {
  // Merged sites share their location with the sites that shaped them; each is moved once.
  const rebased = new Set<SourceLocation>();
  const move = (location: SourceLocation): void => {
    if (rebased.has(location)) return;
    rebased.add(location);
    location.file = file;
    if (location.path !== undefined)
      location.path = rebasePath(location.path, prefixLength, rebase.itemIndex);
    rebasePosition(location, rebase);
  };
  for (const aggregate of result.aggregation.aggregates.values()) {
    for (const fold of aggregate.sites.values()) {
      move(fold.site.location);
      for (const shaper of fold.shapers ?? []) move(shaper.site.location);
    }
  }
  for (const problem of result.problems) {
    problem.file = file;
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
  /** Bytes a runner indexes at a time within a region. */
  sliceBytes?: number;
}

/**
 * A region handed to the runner. It starts where the region before it ended; where it ends is known
 * up front for a cut window, and from the result (`span`) for a file.
 */
interface InFlight {
  end: number | undefined;
  result: Promise<RegionResult>;
}

/** Hands out the regions of one list, from a window the main thread cuts or from a file. */
interface RegionSource {
  /** Starts the next region, or returns undefined once the last one is out. */
  next(atListStart: boolean): Promise<InFlight | undefined>;
  /** After a cut inside an item: regions start again at `at`, and the next cut must lie past `beyond`. */
  restart(at: number, beyond: number): void;
  /** Everything before `position` is parsed; `line` and `lineStart` (absolute) place it. */
  consumed(position: number, line: number, lineStart: number): void;
  /** The list closed at `position`: the reader takes over from there. */
  closed(position: number, line: number, lineStart: number): void;
}

export class ParallelListReader implements ListItemsDelegate {
  private readonly options: ParallelListOptions;

  constructor(options: ParallelListOptions) {
    this.options = options;
  }

  private task(
    bytes: RegionTask['bytes'],
    context: ListContext,
    atListStart: boolean,
    final: boolean,
  ): Promise<RegionResult> {
    const result = this.options.pool.run({
      bytes,
      document: context.document,
      pathPrefix: context.pathPrefix,
      listItemKind: context.listItemKind,
      atListStart,
      final,
      nodeGroupLabels: this.options.nodeGroupLabels,
      ...(this.options.sliceBytes === undefined ? {} : { sliceBytes: this.options.sliceBytes }),
    });
    // A result may be dropped after a mis-cut; its failure is reported through the pool.
    result.catch(() => undefined);
    return result;
  }

  /** Regions the main thread cuts from the window and copies to the runner (or lends, on this thread). */
  private windowRegions(
    window: JsonWindow,
    boundary: Boundary,
    context: ListContext,
  ): RegionSource {
    const regionBytes = this.options.regionBytes ?? REGION_BYTES;
    const { pool } = this.options;
    let nextStart = window.base + window.start;
    let beyond = nextStart;
    let done = false;
    return {
      next: async (atListStart) => {
        if (done) return undefined;
        const { end, final } = await cutWindow(window, nextStart, boundary, beyond, regionBytes);
        const from = nextStart - window.base;
        const view = window.buffer.subarray(from, from + end - nextStart);
        // A runner on this thread parses the region before the window moves; a worker gets a copy.
        const bytes = pool.transfers ? new Uint8Array(view) : view;
        nextStart = end;
        done = final;
        return { end, result: this.task(bytes, context, atListStart, final) };
      },
      restart(at, past) {
        nextStart = at;
        beyond = past;
        done = false;
      },
      consumed(position, line, lineStart) {
        window.commit({
          pos: position - window.base,
          line,
          lineStart: lineStart - window.base,
        });
      },
      closed(position, line, lineStart) {
        this.consumed(position, line, lineStart);
      },
    };
  }

  /** Regions the workers read from the file themselves; the window resumes after the list. */
  private fileRegions(
    window: JsonWindow,
    file: SeekableFile,
    boundary: Boundary,
    context: ListContext,
  ): RegionSource {
    const regionBytes = this.options.regionBytes ?? REGION_BYTES;
    let from: FileRegion['from'] = { at: window.base + window.start };
    let toAfter = window.base + window.start + regionBytes;
    let done = false;
    return {
      next: async (atListStart) => {
        if (done) return undefined;
        const region: FileRegion = {
          fd: file.fd,
          from,
          toAfter,
          pattern: boundary.pattern,
          cut: boundary.cut,
        };
        from = { after: toAfter };
        toAfter += regionBytes;
        // Past the size the file had when opened, the last region runs to its end.
        done = toAfter - regionBytes >= file.size;
        return { end: undefined, result: this.task(region, context, atListStart, false) };
      },
      restart(at, past) {
        from = { at };
        toAfter = Math.max(at + regionBytes, past + 1);
        done = false;
      },
      consumed() {},
      closed(position, line, lineStart) {
        window.seek(position, line, lineStart);
      },
    };
  }

  async consume(
    window: JsonWindow,
    context: ListContext,
  ): Promise<'closed' | 'stopped' | 'declined'> {
    await ensureWindow(window, window.base + window.start + SNIFF_BYTES);
    const boundary = detectBoundary(window.buffer, window.start, window.end);
    if (boundary === undefined) return 'declined';
    const { pool } = this.options;
    const file = window.file;
    const regions =
      pool.transfers && file !== undefined
        ? this.fileRegions(window, file, boundary, context)
        : this.windowRegions(window, boundary, context);
    const prefixLength = context.pathPrefix.length;
    const inFlight: InFlight[] = [];
    const listStart = window.base + window.start;
    let atListStart = true;
    let expectedStart = listStart;
    let rebase: Rebase = {
      line: window.line,
      firstLineColumns: window.start - window.lineStart,
      itemIndex: 0,
    };
    let lineStart = window.base + window.lineStart;
    const maxInFlight = pool.size * 2;

    // Regions past a mis-cut or the list's end are not applied; the file stays open until they end.
    const abandon = async (): Promise<void> => {
      await Promise.allSettled(inFlight.map((region) => region.result));
      inFlight.length = 0;
    };

    // However the loop ends, no region may still be reading when the caller closes the file.
    try {
      for (;;) {
        while (inFlight.length < maxInFlight) {
          const region = await regions.next(atListStart && inFlight.length === 0);
          if (region === undefined) break;
          inFlight.push(region);
        }
        const head = inFlight.shift();
        if (head === undefined) {
          // The last region ended at a cut short of the end (a file that grew): carry on from there.
          regions.restart(expectedStart, expectedStart);
          continue;
        }
        const result = await head.result;
        const start = result.span?.start ?? expectedStart;
        const end = result.span?.end ?? head.end ?? start;
        if (start !== expectedStart) {
          // Workers disagreed on a cut: parse again from where the last region really ended.
          await abandon();
          regions.restart(expectedStart, expectedStart);
          continue;
        }
        rebaseResult(result, rebase, prefixLength, context.file);
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
          return 'stopped';
        }
        if (result.newlines > 0) lineStart = start + result.lastLineStart;
        const resumeAt = start + (result.closedAt ?? result.consumed);
        const line = rebase.line + result.newlines;
        this.options.onProgress?.(resumeAt);
        rebase = {
          line,
          firstLineColumns: resumeAt - lineStart,
          itemIndex: rebase.itemIndex + result.items,
        };
        if (result.closedAt !== undefined) {
          await abandon();
          regions.closed(resumeAt, line, lineStart);
          return 'closed';
        }
        regions.consumed(resumeAt, line, lineStart);
        expectedStart = resumeAt;
        atListStart = rebase.itemIndex === 0 && resumeAt === listStart;
        if (resumeAt !== end) {
          // The cut fell inside an item: later regions started in the wrong place.
          await abandon();
          regions.restart(resumeAt, end);
        }
      }
    } finally {
      await abandon();
    }
  }
}

async function ensureWindow(window: JsonWindow, absoluteEnd: number): Promise<void> {
  while (!window.eof && window.base + window.end < absoluteEnd) await window.fill();
}

/**
 * Picks the end of the region starting at `start` (absolute offsets). After a cut fell inside an item,
 * `beyond` is that cut: the item runs past it, so the next cut must lie further.
 */
async function cutWindow(
  window: JsonWindow,
  start: number,
  boundary: Boundary,
  beyond: number,
  regionBytes: number,
): Promise<{ end: number; final: boolean }> {
  const { pattern, cut } = boundary;
  await ensureWindow(window, start + regionBytes + pattern.length);
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
