import { type FileHandle, open } from 'node:fs/promises';

/** Sequential bytes from a file or a stream, read into the caller's buffer. */
export interface ByteSource {
  /** Reads up to `length` bytes into `buffer` at `offset`; 0 means the end of the input. */
  read(buffer: Buffer, offset: number, length: number): Promise<number>;
  /** Total size when known (regular files), for progress. */
  readonly size: number | undefined;
  /** A regular file: other threads may read parts of it themselves, and reading may skip past them. */
  readonly file?: SeekableFile;
  close(): Promise<void>;
}

export interface SeekableFile {
  /** Open for as long as the source is; for positional reads only. */
  readonly fd: number;
  /** The size when opened. */
  readonly size: number;
  /** Continues reading at `position`. */
  seek(position: number): void;
}

export async function openFileSource(path: string): Promise<ByteSource> {
  const handle: FileHandle = await open(path, 'r');
  const stats = await handle.stat();
  let position = 0;
  const regular = stats.isFile();
  return {
    size: regular ? stats.size : undefined,
    ...(regular
      ? {
          file: {
            fd: handle.fd,
            size: stats.size,
            seek(to: number) {
              position = to;
            },
          },
        }
      : {}),
    async read(buffer, offset, length) {
      const { bytesRead } = await handle.read(buffer, offset, length, position);
      position += bytesRead;
      return bytesRead;
    },
    close: () => handle.close(),
  };
}

/** Chunks of input: a readable stream such as stdin, or chunks already in memory. */
export type ByteChunks = AsyncIterable<Buffer | string> | Iterable<Buffer | string>;

/** Adapts a readable stream (stdin) to pull-style reads without losing bytes between calls. */
export function streamSource(stream: ByteChunks): ByteSource {
  const iterator =
    Symbol.asyncIterator in stream ? stream[Symbol.asyncIterator]() : stream[Symbol.iterator]();
  let pending: Buffer | undefined;
  let done = false;
  return {
    size: undefined,
    async read(buffer, offset, length) {
      while ((pending === undefined || pending.length === 0) && !done) {
        const next = await iterator.next();
        if (next.done === true) done = true;
        else pending = typeof next.value === 'string' ? Buffer.from(next.value) : next.value;
      }
      if (pending === undefined || pending.length === 0) return 0;
      const count = Math.min(length, pending.length);
      pending.copy(buffer, offset, 0, count);
      pending = pending.subarray(count);
      return count;
    },
    async close() {
      await iterator.return?.();
    },
  };
}
