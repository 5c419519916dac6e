import { Writable } from 'node:stream';
import type { CommandIo } from '#cmd/cli/io.ts';

// Runs a binary's `main` in this process with captured output, as the CLI tests need it.

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

export async function runInProcess(
  main: (args: readonly string[], io: CommandIo) => Promise<number>,
  args: readonly string[],
  options: { env?: Record<string, string>; stderrIsTTY?: boolean } = {},
): Promise<CliRun> {
  let stdout = '';
  let stderr = '';
  const capture = (onText: (text: string) => void) =>
    new Writable({
      write(chunk: Buffer, _encoding, done) {
        onText(chunk.toString('utf8'));
        done();
      },
    });
  const code = await main(args, {
    stdout: capture((text) => {
      stdout += text;
    }),
    stderr: capture((text) => {
      stderr += text;
    }),
    stdoutIsTTY: false,
    stderrIsTTY: options.stderrIsTTY ?? false,
    env: options.env ?? {},
  });
  return { code, stdout, stderr };
}
