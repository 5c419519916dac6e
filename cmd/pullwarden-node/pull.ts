import { parseArgs } from 'node:util';
import type { CommandIo } from '#cmd/cli/io.ts';
import { UsageError } from '#cmd/cli/io.ts';
import type { Command } from '#cmd/cli/program.ts';
import { type ImageReference, parseImageReference } from '#shared/image/reference.ts';
import { pullImages } from '#shared/node/pull.ts';
import { openNodeServices } from '#shared/node/services.ts';
import {
  nodeConfigWithOptions,
  RUNTIME_OPTIONS,
  RUNTIME_OPTIONS_USAGE,
  runNodeCommand,
} from './node-options.ts';

export const PULL_USAGE = `Usage: pullwarden-node pull [options] <image>...

Pulls images into the node's container runtime through the CRI, as the kubelet would, with the
credentials the node config's credential sources give for each registry (they go to the runtime in
the CRI request, never on a command line or in a log). Images named by digest are pulled by digest.
Before each pull the image's size (from the registry manifest, for this node's platform) is checked
against the free space of the runtime's image filesystem; a pull that would leave less than
prePull.disk keeps free is refused.

Options:
${RUNTIME_OPTIONS_USAGE}

Output: one JSON line per image on stdout, in the order given:
  {"image","digest","outcome":"pulled"|"present"|"failed","bytes","seconds","attempts",
   "pinned","cause","reason"}
Progress and warnings go to stderr.

Exit codes: 0 every image present or pulled, 1 any failed, 2 usage or config error.`;

export async function pullCommand(args: readonly string[], io: CommandIo): Promise<number> {
  const { values, positionals } = parseArgs({
    args: [...args],
    strict: true,
    allowPositionals: true,
    options: RUNTIME_OPTIONS,
  });
  if (values.help === true) {
    io.stdout.write(`${PULL_USAGE}\n`);
    return 0;
  }
  if (positionals.length === 0) throw new UsageError('name at least one image to pull');
  // Every image is checked before anything is pulled: a typo changes nothing.
  const images: ImageReference[] = positionals.map((text) => {
    try {
      return parseImageReference(text);
    } catch (error) {
      throw new UsageError((error as Error).message);
    }
  });
  const config = await nodeConfigWithOptions(values, io.env);
  const log = (line: string) => io.stderr.write(`pullwarden-node pull: ${line}\n`);
  const services = await openNodeServices(config, {
    pinOwner: 'pull',
    env: io.env,
    log,
  });
  try {
    const results = await pullImages(images, config.prePull, services.pull);
    for (const result of results) io.stdout.write(`${JSON.stringify(result)}\n`);
    return results.every((result) => result.outcome !== 'failed') ? 0 : 1;
  } finally {
    services.close();
  }
}

export const pullCommandDefinition: Command = {
  summary: 'pull images into the container runtime through the CRI (disk check, retries, pins)',
  usage: PULL_USAGE,
  run: (args, io) => runNodeCommand(io, 'pull', () => pullCommand(args, io)),
};
