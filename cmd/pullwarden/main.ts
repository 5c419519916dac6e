#!/usr/bin/env node
import { pathToFileURL } from 'node:url';
import type { CommandIo } from '#cmd/cli/io.ts';
import {
  EXIT_USAGE,
  type Program,
  runProgram,
  runProgramOnProcess,
  versionCommand,
} from '#cmd/cli/program.ts';
import { PULLWARDEN_VERSION } from '#shared/version.ts';
import { DRIFT_USAGE, driftCommand } from './drift.ts';
import { FINDINGS_USAGE, findingsCommand } from './findings.ts';
import { PLAN_USAGE, planCommand } from './plan.ts';
import { SERVE_USAGE } from './serve-usage.ts';
import { STATUS_USAGE, statusCommand } from './status.ts';

/**
 * The local stack runs functions/ and infra/ from a source checkout, so the bundled binary leaves it
 * out (scripts/build.ts) and says where to run it instead.
 */
async function serve(args: readonly string[], io: CommandIo): Promise<number> {
  let module: typeof import('./serve.ts');
  try {
    module = await import('./serve.ts');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ERR_MODULE_NOT_FOUND') throw error;
    io.stderr.write(
      'pullwarden serve runs from a source checkout of pullwarden: npm ci && npm start\n',
    );
    return EXIT_USAGE;
  }
  return module.serveCommand(args, io);
}

export const PULLWARDEN: Program = {
  name: 'pullwarden',
  commands: {
    drift: {
      summary: 'evaluate image pull policies of manifests and cluster dumps',
      usage: DRIFT_USAGE,
      run: driftCommand,
    },
    findings: {
      summary: 'list the findings the service keeps about a live cluster (GET /v1/findings)',
      usage: FINDINGS_USAGE,
      run: findingsCommand,
    },
    plan: {
      summary: 'show which node groups would pre-pull a pushed image, and why',
      usage: PLAN_USAGE,
      run: planCommand,
    },
    serve: {
      summary: 'run the whole service locally (HTTP routes, queues, emulated AWS)',
      usage: SERVE_USAGE,
      run: serve,
    },
    status: {
      summary: "show how far a node group's nodes hold its warm set, from their pre-pull reports",
      usage: STATUS_USAGE,
      run: statusCommand,
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
