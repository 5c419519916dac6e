import type { ByteChunks } from '#shared/input/byte-source.ts';

/** What a command may touch, passed in so tests can run commands in-process. */
export interface CommandIo {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  stdin?: ByteChunks;
  /** The descriptor behind stdin, when it is this process's own (read directly, without a stream). */
  stdinFd?: number;
  /** The same for stdout: a short answer written with one call, without building a stream. */
  stdoutFd?: number;
  stdoutIsTTY: boolean;
  stderrIsTTY: boolean;
  env: Readonly<Record<string, string | undefined>>;
}

/** Bad command line: reported with the usage hint and exit code 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** An option value that must be one of a fixed set; anything else is a usage error naming the set. */
export function oneOf<T extends string>(allowed: readonly T[], value: string, option: string): T {
  if ((allowed as readonly string[]).includes(value)) return value as T;
  throw new UsageError(`--${option} must be one of ${allowed.join(', ')} (got "${value}")`);
}

/** The values of an option given several times, each maybe a comma-separated list, trimmed. */
export function commaValues(values: readonly string[] | undefined): string[] {
  return (values ?? [])
    .flatMap((value) => value.split(','))
    .map((part) => part.trim())
    .filter((part) => part !== '');
}

export function processIo(): CommandIo {
  // process.stdin/stdout/stderr build a stream (for a pipe, a socket) when first touched: only the
  // commands that use one pay for it.
  return {
    get stdout() {
      return process.stdout;
    },
    get stderr() {
      return process.stderr;
    },
    get stdin() {
      return process.stdin;
    },
    stdinFd: 0,
    stdoutFd: 1,
    get stdoutIsTTY() {
      return process.stdout.isTTY === true;
    },
    get stderrIsTTY() {
      return process.stderr.isTTY === true;
    },
    env: process.env,
  };
}
