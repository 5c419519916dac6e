import { type CommandIo, processIo, UsageError } from './io.ts';

export interface Command {
  readonly summary: string;
  /** A function for commands loaded on demand (see lazyCommand). */
  readonly usage: string | (() => Promise<string>);
  run(args: readonly string[], io: CommandIo): Promise<number>;
}

export interface Program {
  readonly name: string;
  readonly commands: Readonly<Record<string, Command>>;
}

export const EXIT_USAGE = 2;
export const EXIT_INTERNAL = 70;

// parseArgs reports unknown or malformed options with these codes.
const PARSE_ARGS_ERRORS = new Set([
  'ERR_PARSE_ARGS_UNKNOWN_OPTION',
  'ERR_PARSE_ARGS_INVALID_OPTION_VALUE',
  'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL',
]);

export function programUsage(program: Program): string {
  const width = Math.max(4, ...Object.keys(program.commands).map((name) => name.length));
  const lines = Object.entries(program.commands).map(
    ([name, command]) => `  ${name.padEnd(width)}  ${command.summary}`,
  );
  return [
    `Usage: ${program.name} <command> [options]`,
    '',
    'Commands:',
    ...lines,
    `  ${'help'.padEnd(width)}  show this help, or a command's help: ${program.name} help <command>`,
    '',
    `Run '${program.name} <command> --help' for a command's options.`,
  ].join('\n');
}

/** A bad command line: our own UsageError or parseArgs' complaint about an option. */
export function isUsageError(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return error instanceof UsageError || (code !== undefined && PARSE_ARGS_ERRORS.has(code));
}

/** Dispatches to a command; usage mistakes exit 2 with a hint, anything else propagates. */
export async function runProgram(
  program: Program,
  args: readonly string[],
  io: CommandIo,
): Promise<number> {
  const [name, ...rest] = args;
  if (name === undefined || name === 'help' || name === '--help' || name === '-h') {
    const topic = name === 'help' && rest[0] !== undefined ? program.commands[rest[0]] : undefined;
    if (name === 'help' && rest[0] !== undefined && topic === undefined) {
      io.stderr.write(
        `${program.name}: unknown command "${rest[0]}"\n\n${programUsage(program)}\n`,
      );
      return EXIT_USAGE;
    }
    (name === undefined ? io.stderr : io.stdout).write(
      `${topic === undefined ? programUsage(program) : typeof topic.usage === 'string' ? topic.usage : await topic.usage()}\n`,
    );
    return name === undefined ? EXIT_USAGE : 0;
  }
  if (name === '--version' && program.commands.version !== undefined)
    return program.commands.version.run([], io);
  const command = Object.hasOwn(program.commands, name) ? program.commands[name] : undefined;
  if (command === undefined) {
    io.stderr.write(`${program.name}: unknown command "${name}"\n\n${programUsage(program)}\n`);
    return EXIT_USAGE;
  }
  try {
    return await command.run(rest, io);
  } catch (error) {
    if (isUsageError(error)) {
      io.stderr.write(
        `${program.name} ${name}: ${(error as Error).message}\nRun '${program.name} ${name} --help' for usage.\n`,
      );
      return EXIT_USAGE;
    }
    throw error;
  }
}

/** Runs a program on this process: exit code 2 for usage and input errors, 70 for internal errors. */
export async function runProgramOnProcess(
  program: Program,
  args: readonly string[],
): Promise<void> {
  try {
    process.exitCode = await runProgram(program, args, processIo());
  } catch (error) {
    process.stderr.write(
      `${program.name}: internal error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    process.exitCode = EXIT_INTERNAL;
  }
}

/**
 * A command whose module is loaded only when it runs or its help is shown, so that one command's
 * dependencies never slow down another's start (the credential provider runs once per image pull).
 */
export function lazyCommand(summary: string, load: () => Promise<Command>): Command {
  let loaded: Promise<Command> | undefined;
  const command = () => {
    loaded ??= load();
    return loaded;
  };
  return {
    summary,
    usage: async () => {
      const { usage } = await command();
      return typeof usage === 'string' ? usage : usage();
    },
    run: async (args, io) => (await command()).run(args, io),
  };
}

/** The `version` command every binary has. */
export function versionCommand(program: string, version: string): Command {
  return {
    summary: 'print the version',
    usage: `Usage: ${program} version`,
    async run(args, io) {
      if (args.length > 0) throw new UsageError(`unexpected argument "${args[0]}"`);
      io.stdout.write(
        `${program} ${version} (node ${process.version}, ${process.platform}/${process.arch})\n`,
      );
      return 0;
    },
  };
}
