#!/usr/bin/env node
import { pathToFileURL } from 'node:url';
import type { CommandIo } from '#cmd/cli/io.ts';
import { type Program, runProgram, runProgramOnProcess, versionCommand } from '#cmd/cli/program.ts';
import { PULLWARDEN_VERSION } from '#shared/version.ts';
import { DRIFT_USAGE, driftCommand } from './drift.ts';

export const PULLWARDEN: Program = {
  name: 'pullwarden',
  commands: {
    drift: {
      summary: 'evaluate image pull policies of manifests and cluster dumps',
      usage: DRIFT_USAGE,
      run: driftCommand,
    },
    version: versionCommand('pullwarden', PULLWARDEN_VERSION),
  },
};

export function main(args: readonly string[], io: CommandIo): Promise<number> {
  return runProgram(PULLWARDEN, args, io);
}

export function runCli(args: readonly string[]): Promise<void> {
  return runProgramOnProcess(PULLWARDEN, args);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href)
  await runCli(process.argv.slice(2));
