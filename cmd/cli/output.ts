import { once } from 'node:events';
import { writeFile } from 'node:fs/promises';
import type { CommandIo } from './io.ts';

// Where a command's report goes and how it looks there, for every command that prints one.

/** Colour on a terminal unless told otherwise (`--color`/`--no-color`, NO_COLOR, TERM=dumb). */
export function useColor(
  io: CommandIo,
  options: { output?: string | undefined; color?: boolean | undefined },
): boolean {
  const toTerminal = options.output === undefined && io.stdoutIsTTY;
  return options.color ?? (toTerminal && io.env.NO_COLOR === undefined && io.env.TERM !== 'dumb');
}

/** Writes a report to `path` (`--output`), or to stdout a piece at a time, waiting while it is full. */
export async function writeOutput(
  io: CommandIo,
  path: string | undefined,
  output: string | Iterable<string>,
): Promise<void> {
  if (path !== undefined) {
    await writeFile(path, output);
    return;
  }
  for (const chunk of typeof output === 'string' ? [output] : output) {
    if (!io.stdout.write(chunk)) await once(io.stdout, 'drain');
  }
}

/** Rows as columns two spaces apart, each as wide as its widest cell; the last is not padded. */
export function table(rows: readonly (readonly string[])[]): string {
  const widths = rows[0]?.map((_, column) =>
    Math.max(...rows.map((row) => (row[column] ?? '').length)),
  );
  return rows
    .map((row) =>
      row
        .map((cell, column) =>
          column === row.length - 1 ? cell : cell.padEnd(widths?.[column] ?? 0),
        )
        .join('  '),
    )
    .join('\n');
}
