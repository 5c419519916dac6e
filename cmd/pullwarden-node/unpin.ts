import { parseArgs } from 'node:util';
import type { CommandIo } from '#cmd/cli/io.ts';
import { UsageError } from '#cmd/cli/io.ts';
import type { Command } from '#cmd/cli/program.ts';
import { loadNodeConfig } from '#shared/credentials/node-config.ts';
import { ContainerdImages } from '#shared/cri/containerd-images.ts';
import { detectRuntimeEndpoint } from '#shared/cri/endpoint.ts';
import { parseImageReference } from '#shared/image/reference.ts';
import { pullReference } from '#shared/node/pull.ts';
import { DEFAULT_NODE_CONFIG, runNodeCommand } from './node-options.ts';

export const UNPIN_USAGE = `Usage: pullwarden-node unpin [options] <image>...

Removes the io.cri-containerd.pinned label pullwarden set on images (pull --pin, the agent with
prePull.pin), so the kubelet's image GC may collect them again. Pins set by anyone else stay.

Options:
  -c, --config <file>           node config (default: $PULLWARDEN_NODE_CONFIG, else ${DEFAULT_NODE_CONFIG})
      --runtime-endpoint <url>  containerd's socket (default: prePull.runtimeEndpoint, else detected)
  -h, --help                    show this help

Output: one JSON line per image: {"image","unpinned":[names],"kept":[names]} or {"image","error"}.
Exit codes: 0 done, 1 an image could not be unpinned, 2 usage or config error.`;

export async function unpinCommand(args: readonly string[], io: CommandIo): Promise<number> {
  const { values, positionals } = parseArgs({
    args: [...args],
    strict: true,
    allowPositionals: true,
    options: {
      config: { type: 'string', short: 'c' },
      'runtime-endpoint': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help === true) {
    io.stdout.write(`${UNPIN_USAGE}\n`);
    return 0;
  }
  if (positionals.length === 0) throw new UsageError('name at least one image to unpin');
  const references = positionals.map((text) => {
    try {
      return { image: text, reference: pullReference(parseImageReference(text)) };
    } catch (error) {
      throw new UsageError((error as Error).message);
    }
  });
  const given =
    values['runtime-endpoint'] ??
    (
      await loadNodeConfig(
        values.config ?? (io.env.PULLWARDEN_NODE_CONFIG?.trim() || DEFAULT_NODE_CONFIG),
      )
    ).prePull.runtimeEndpoint;
  const pins = new ContainerdImages(await detectRuntimeEndpoint(given, io.env));
  let failed = false;
  try {
    for (const { image, reference } of references) {
      try {
        const result = await pins.unpin(reference);
        io.stdout.write(
          `${JSON.stringify({ image, unpinned: result.changed, kept: result.unchanged })}\n`,
        );
      } catch (error) {
        failed = true;
        io.stdout.write(`${JSON.stringify({ image, error: (error as Error).message })}\n`);
      }
    }
  } finally {
    pins.close();
  }
  return failed ? 1 : 0;
}

export const unpinCommandDefinition: Command = {
  summary: 'remove the pins pullwarden set, so the image GC may collect the images again',
  usage: UNPIN_USAGE,
  run: (args, io) => runNodeCommand(io, 'unpin', () => unpinCommand(args, io)),
};
