#!/usr/bin/env node
// The node-side binary: the kubelet credential provider and the pre-pull agent run under it.
import { pathToFileURL } from 'node:url';
import type { CommandIo } from '#cmd/cli/io.ts';
import { type Program, runProgram, runProgramOnProcess, versionCommand } from '#cmd/cli/program.ts';
import { PULLWARDEN_VERSION } from '#shared/version.ts';

export const PULLWARDEN_NODE: Program = {
  name: 'pullwarden-node',
  commands: {
    version: versionCommand('pullwarden-node', PULLWARDEN_VERSION),
  },
};

export function main(args: readonly string[], io: CommandIo): Promise<number> {
  return runProgram(PULLWARDEN_NODE, args, io);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  await runProgramOnProcess(PULLWARDEN_NODE, process.argv.slice(2));
}
