#!/usr/bin/env node
import { pathToFileURL } from 'node:url';
import { PULLWARDEN_VERSION } from '#shared/version.ts';
import { DRIFT_USAGE, driftCommand } from './drift.ts';
import { type CommandIo, processIo, UsageError } from './io.ts';

const USAGE = `Usage: pullwarden <command> [options]

Commands:
  drift     evaluate image pull policies of manifests and cluster dumps
  version   print the version
  help      show this help, or the help of a command: pullwarden help drift

Run 'pullwarden <command> --help' for a command's options.`;

interface Command {
  run(args: readonly string[], io: CommandIo): Promise<number>;
  usage: string;
}

const COMMANDS: Record<string, Command> = {
  drift: { run: driftCommand, usage: DRIFT_USAGE },
  version: {
    usage: 'Usage: pullwarden version',
    async run(_args, io) {
      io.stdout.write(`pullwarden ${PULLWARDEN_VERSION} (node ${process.version}, ${process.platform}/${process.arch})\n`);
      return 0;
    },
  },
};

export async function main(args: readonly string[], io: CommandIo): Promise<number> {
  const [name, ...rest] = args;
  if (name === undefined || name === 'help' || name === '--help' || name === '-h') {
    const topic = name === 'help' && rest[0] !== undefined ? COMMANDS[rest[0]] : undefined;
    io.stdout.write(`${topic?.usage ?? USAGE}\n`);
    return name === undefined ? 2 : 0;
  }
  if (name === '--version') return main(['version'], io);
  const command = COMMANDS[name];
  if (command === undefined) {
    io.stderr.write(`pullwarden: unknown command "${name}"\n\n${USAGE}\n`);
    return 2;
  }
  try {
    return await command.run(rest, io);
  } catch (error) {
    // parseArgs reports unknown or malformed options with these codes.
    const code = (error as NodeJS.ErrnoException).code;
    if (error instanceof UsageError || code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' || code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE' || code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') {
      io.stderr.write(`pullwarden ${name}: ${(error as Error).message}\nRun 'pullwarden ${name} --help' for usage.\n`);
      return 2;
    }
    throw error;
  }
}

/** Runs the CLI on this process: exit code 2 for usage and input errors, 70 for internal errors. */
export async function runCli(args: readonly string[]): Promise<void> {
  try {
    process.exitCode = await main(args, processIo());
  } catch (error) {
    process.stderr.write(
      `pullwarden: internal error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    process.exitCode = 70;
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await runCli(process.argv.slice(2));
