#!/usr/bin/env node
// The node-side binary: the kubelet credential provider and the pre-pull agent run under it.
import { pathToFileURL } from 'node:url';
import type { CommandIo } from '#cmd/cli/io.ts';
import {
  lazyCommand,
  type Program,
  runProgram,
  runProgramOnProcess,
  versionCommand,
} from '#cmd/cli/program.ts';
import { PULLWARDEN_VERSION } from '#shared/version.ts';

export const PULLWARDEN_NODE: Program = {
  name: 'pullwarden-node',
  commands: {
    // Each command loads its own modules when it runs: the kubelet starts credential-provider once
    // per image pull, and it must not pay for the others.
    'credential-provider': lazyCommand(
      "the kubelet's exec credential provider (CredentialProviderRequest on stdin)",
      async () => (await import('./credential-provider.ts')).credentialProviderCommandDefinition,
    ),
    pull: lazyCommand(
      'pull images into the container runtime through the CRI (disk check, retries, pins)',
      async () => (await import('./pull.ts')).pullCommandDefinition,
    ),
    agent: lazyCommand(
      "keep the node group's warm set in the container runtime, and report it",
      async () => (await import('./agent.ts')).agentCommandDefinition,
    ),
    unpin: lazyCommand(
      'remove the pins pullwarden set, so the image GC may collect the images again',
      async () => (await import('./unpin.ts')).unpinCommandDefinition,
    ),
    doctor: lazyCommand(
      'check kubelet credential provider configs and what the kubelet would match',
      async () => (await import('./doctor.ts')).doctorCommand,
    ),
    version: versionCommand('pullwarden-node', PULLWARDEN_VERSION),
  },
};

export function main(args: readonly string[], io: CommandIo): Promise<number> {
  return runProgram(PULLWARDEN_NODE, args, io);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  await runProgramOnProcess(PULLWARDEN_NODE, process.argv.slice(2));
}
