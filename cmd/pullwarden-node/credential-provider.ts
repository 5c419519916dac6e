import type { CommandIo } from '#cmd/cli/io.ts';
import type { Command } from '#cmd/cli/program.ts';
import { CredentialUnavailableError } from '#shared/credentials/answer.ts';
import { loadNodeConfig, NodeConfigError } from '#shared/credentials/node-config.ts';
import {
  CredentialRequestError,
  parseCredentialProviderRequest,
} from '#shared/credentials/protocol.ts';
import { provideCredentials } from '#shared/credentials/provide.ts';

export const CREDENTIAL_PROVIDER_USAGE = `Usage: pullwarden-node credential-provider [--config <file>]

The kubelet's exec credential provider: reads one CredentialProviderRequest
(credentialprovider.kubelet.k8s.io v1, v1beta1 or v1alpha1) on stdin and writes one
CredentialProviderResponse on stdout. Tokens come from the node cache when fresh, are minted once for
concurrent execs, and a still-valid cached token is served when the registry's API fails.

Options:
  -c, --config <file>   node config (default: $PULLWARDEN_NODE_CONFIG)
  -h, --help            show this help

Exit codes: 0 answered (possibly with no credentials for a registry the config does not serve),
1 no answer (the reason is one line on stderr), 2 usage error.`;

const MAX_REQUEST_BYTES = 1024 * 1024;

// Every kubelet exec starts a process for this command: builtins come through getBuiltinModule, which
// skips building ESM facades (the one for node:fs also loads fs/promises).
const { readFileSync, writeSync } = process.getBuiltinModule('node:fs');
const { parseArgs } = process.getBuiltinModule('node:util');

async function readStdin(io: CommandIo): Promise<string> {
  if (io.stdinFd !== undefined) {
    // The kubelet hands over a blocking pipe: reading fd 0 directly skips setting up a stream, which
    // costs more than the rest of a cache hit.
    try {
      const bytes = readFileSync(io.stdinFd);
      if (bytes.length > MAX_REQUEST_BYTES)
        throw new CredentialRequestError('stdin is larger than 1 MiB');
      return bytes.toString('utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EAGAIN') throw error;
    }
  }
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of io.stdin ?? []) {
    const bytes = Buffer.from(chunk as Uint8Array);
    total += bytes.length;
    if (total > MAX_REQUEST_BYTES) throw new CredentialRequestError('stdin is larger than 1 MiB');
    chunks.push(bytes);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** Straight to fd 1 when it is ours (a blocking pipe from the kubelet); through the stream otherwise. */
function writeResponse(io: CommandIo, text: string): void {
  if (io.stdoutFd !== undefined) {
    const bytes = Buffer.from(text, 'utf8');
    let written = 0;
    try {
      while (written < bytes.length) written += writeSync(io.stdoutFd, bytes, written);
      return;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EAGAIN') throw error;
    }
    io.stdout.write(bytes.subarray(written));
    return;
  }
  io.stdout.write(text);
}

export async function credentialProviderCommand(
  args: readonly string[],
  io: CommandIo,
): Promise<number> {
  const { values } = parseArgs({
    args: [...args],
    strict: true,
    options: {
      config: { type: 'string', short: 'c' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    io.stdout.write(`${CREDENTIAL_PROVIDER_USAGE}\n`);
    return 0;
  }
  const fail = (message: string) => {
    io.stderr.write(`pullwarden-node credential-provider: ${message.replace(/\s*\n\s*/g, ' ')}\n`);
    return 1;
  };
  const configPath = values.config ?? io.env.PULLWARDEN_NODE_CONFIG;
  try {
    if (configPath === undefined || configPath === '') {
      return fail('no node config: pass --config or set PULLWARDEN_NODE_CONFIG');
    }
    const request = parseCredentialProviderRequest(await readStdin(io));
    const config = await loadNodeConfig(configPath);
    const { response } = await provideCredentials(request, config, (line) =>
      io.stderr.write(`pullwarden-node credential-provider: ${line}\n`),
    );
    writeResponse(io, `${JSON.stringify(response)}\n`);
    return 0;
  } catch (error) {
    if (
      error instanceof CredentialRequestError ||
      error instanceof NodeConfigError ||
      error instanceof CredentialUnavailableError
    ) {
      return fail(error.message);
    }
    return fail(`internal error: ${(error as Error).message}`);
  }
}

export const credentialProviderCommandDefinition: Command = {
  summary: "the kubelet's exec credential provider (CredentialProviderRequest on stdin)",
  usage: CREDENTIAL_PROVIDER_USAGE,
  run: credentialProviderCommand,
};
