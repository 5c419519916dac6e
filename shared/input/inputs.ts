import { readdir, stat } from 'node:fs/promises';
import { extname, join } from 'node:path';
import type { InputProblem } from '#shared/drift/model.ts';
import { compareText } from '#shared/text/order.ts';
import { type ByteChunks, type ByteSource, openFileSource, streamSource } from './byte-source.ts';
import type { DocumentSink } from './documents.ts';
import { type ListItemsDelegate, readJsonDocuments } from './json-documents.ts';
import type { ProjectionNode } from './json-projection.ts';
import { readYamlDocuments } from './yaml-documents.ts';

export const STDIN = '-';

const MANIFEST_EXTENSIONS = new Set(['.yaml', '.yml', '.json']);

export type InputFormat = 'json' | 'yaml' | 'detect';

export interface InputFile {
  /** As shown to the user: the path as given or found under a directory, or `-`. */
  name: string;
  format: InputFormat;
  /** Bytes, for regular files. */
  size?: number;
}

function formatOf(path: string): InputFormat {
  const extension = extname(path).toLowerCase();
  if (extension === '.json') return 'json';
  if (extension === '.yaml' || extension === '.yml') return 'yaml';
  return 'detect';
}

async function walk(directory: string, into: InputFile[]): Promise<void> {
  const entries = await readdir(directory, { withFileTypes: true });
  entries.sort((a, b) => compareText(a.name, b.name));
  for (const entry of entries) {
    if (entry.name.startsWith('.')) continue;
    const path = join(directory, entry.name);
    // Symlinked directories are not followed, so a link back up the tree cannot loop.
    if (entry.isDirectory()) await walk(path, into);
    else if (
      (entry.isFile() || entry.isSymbolicLink()) &&
      MANIFEST_EXTENSIONS.has(extname(entry.name).toLowerCase())
    ) {
      const size = await stat(path).then(
        (info) => info.size,
        () => undefined,
      );
      into.push({ name: path, format: formatOf(path), ...(size === undefined ? {} : { size }) });
    }
  }
}

/** Files, directories (recursively: *.yaml, *.yml, *.json) and `-` for stdin, in a stable order. */
export async function expandInputs(
  paths: readonly string[],
): Promise<{ files: InputFile[]; problems: InputProblem[] }> {
  const files: InputFile[] = [];
  const problems: InputProblem[] = [];
  for (const path of paths) {
    if (path === STDIN) {
      files.push({ name: STDIN, format: 'detect' });
      continue;
    }
    try {
      const info = await stat(path);
      if (info.isDirectory()) {
        const found: InputFile[] = [];
        await walk(path, found);
        if (found.length === 0)
          problems.push({
            file: path,
            message: 'directory contains no *.yaml, *.yml or *.json files',
          });
        files.push(...found);
      } else {
        files.push({ name: path, format: formatOf(path), size: info.size });
      }
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      problems.push({
        file: path,
        message: code === 'ENOENT' ? 'no such file or directory' : `cannot read: ${String(error)}`,
      });
    }
  }
  return { files, problems };
}

/** A source whose first bytes were read to pick the format, replayed before the rest. */
async function sniff(source: ByteSource): Promise<{ source: ByteSource; format: 'json' | 'yaml' }> {
  const head = Buffer.allocUnsafe(4096);
  let length = 0;
  let first = -1;
  while (first === -1) {
    const count = await source.read(head, length, head.length - length);
    if (count === 0) break;
    for (let i = length; i < length + count; i++) {
      const byte = head[i] as number;
      if (byte !== 0x20 && byte !== 0x0a && byte !== 0x0d && byte !== 0x09) {
        first = byte;
        break;
      }
    }
    length += count;
    if (length === head.length) break;
  }
  let replay: Buffer | undefined = head.subarray(0, length);
  const file = source.file;
  const replaying: ByteSource = {
    size: source.size,
    ...(file === undefined
      ? {}
      : {
          file: {
            fd: file.fd,
            size: file.size,
            seek(position: number) {
              replay = undefined;
              file.seek(position);
            },
          },
        }),
    async read(buffer, offset, count) {
      if (replay !== undefined && replay.length > 0) {
        const take = Math.min(count, replay.length);
        replay.copy(buffer, offset, 0, take);
        replay = replay.subarray(take);
        return take;
      }
      return source.read(buffer, offset, count);
    },
    close: () => source.close(),
  };
  return { source: replaying, format: first === 0x7b || first === 0x5b ? 'json' : 'yaml' };
}

export interface ReadOptions {
  projection: ProjectionNode;
  stdin?: ByteChunks;
  /** Parses the items of JSON lists instead of the reader (on other threads). */
  listDelegate?: ListItemsDelegate;
}

/** Reads one input and hands its documents to `sink`; unreadable files become problems. */
export async function readInput(
  input: InputFile,
  sink: DocumentSink,
  options: ReadOptions,
): Promise<void> {
  let source: ByteSource;
  try {
    source =
      input.name === STDIN
        ? streamSource(options.stdin ?? process.stdin)
        : await openFileSource(input.name);
  } catch (error) {
    sink.problem({ file: input.name, message: `cannot read: ${(error as Error).message}` });
    return;
  }
  try {
    let format = input.format;
    if (format === 'detect') {
      const sniffed = await sniff(source);
      source = sniffed.source;
      format = sniffed.format;
    }
    if (format === 'json')
      await readJsonDocuments(source, input.name, options.projection, sink, options.listDelegate);
    else await readYamlDocuments(source, input.name, sink);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EISDIR' || code === 'EACCES' || code === 'EIO') {
      sink.problem({ file: input.name, message: `cannot read: ${(error as Error).message}` });
    } else {
      throw error;
    }
  } finally {
    await source.close();
  }
}
