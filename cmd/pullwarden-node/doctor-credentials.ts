import { parseArgs } from 'node:util';
import { type CommandIo, UsageError } from '#cmd/cli/io.ts';
import { CredentialUnavailableError } from '#shared/credentials/answer.ts';
import { loadNodeConfig, NodeConfigError } from '#shared/credentials/node-config.ts';
import { provideCredentials } from '#shared/credentials/provide.ts';
import { selectSource } from '#shared/credentials/select.ts';
import { type CacheRead, FileTokenCache } from '#shared/credentials/token-cache.ts';
import { ImageReferenceError, tryParseImageReference } from '#shared/image/reference.ts';
import type { DoctorCheck } from './doctor.ts';

// `doctor credentials <image>`: the credential provider's whole path for one image, as the kubelet would
// run it, reported step by step: which source, the cache before and after, and the answer. Passwords
// and tokens are never printed, only their length.

export const CREDENTIALS_USAGE = `Usage: pullwarden-node doctor credentials [options] <image>

Runs the node's credential provider for an image, as the kubelet would, and reports where the
credential came from, its expiry and the cache state. Secrets are never printed.

Options:
  -c, --config <file>   node config (default: $PULLWARDEN_NODE_CONFIG)
  -h, --help            show this help

Exit codes: 0 credentials obtained, 1 none (not served, or the source failed), 2 usage error.`;

function describeCache(read: CacheRead, now: Date, path: string): string {
  if (read.corrupt) return `unreadable (${path}); the provider replaces it`;
  const token = read.token;
  if (token === undefined) return 'empty: the next exec mints';
  if (token.expiresAt === undefined)
    return `holds a credential without expiry, minted ${token.mintedAt}`;
  const minutes = Math.round((Date.parse(token.expiresAt) - now.getTime()) / 60_000);
  const state = minutes > 0 ? `valid for ${minutes} more minutes` : 'expired';
  return `${state} (expires ${token.expiresAt}, minted ${token.mintedAt}, from ${token.source})`;
}

async function cacheState(cache: FileTokenCache, key: string): Promise<string> {
  return describeCache(await cache.read(key), new Date(), cache.pathOf(key));
}

export const credentialsCheck: DoctorCheck = {
  summary: 'run the credential provider for an image and report where its credential came from',
  synopsis: '<image>',
  usage: CREDENTIALS_USAGE,
  async run(args: readonly string[], io: CommandIo) {
    const { values, positionals } = parseArgs({
      args: [...args],
      allowPositionals: true,
      strict: true,
      options: {
        config: { type: 'string', short: 'c' },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
    if (values.help) {
      io.stdout.write(`${CREDENTIALS_USAGE}\n`);
      return 0;
    }
    if (positionals.length !== 1) throw new UsageError('name exactly one image');
    const reference = tryParseImageReference(positionals[0] as string);
    if (reference instanceof ImageReferenceError) throw new UsageError(reference.message);
    const configPath = values.config ?? io.env.PULLWARDEN_NODE_CONFIG;
    if (configPath === undefined || configPath === '') {
      throw new UsageError('no node config: pass --config or set PULLWARDEN_NODE_CONFIG');
    }
    const out = (line = '') => io.stdout.write(`${line}\n`);
    // What the kubelet sends: the repository, without tag or digest.
    const request = {
      apiVersion: 'credentialprovider.kubelet.k8s.io/v1' as const,
      image: reference.name,
    };
    out(`image: ${positionals[0]} (the kubelet asks for ${request.image})`);
    try {
      const config = await loadNodeConfig(configPath);
      const selected = selectSource(request, config);
      if (selected === undefined) {
        out(
          `source: none; no registry in ${configPath} serves ${request.image}, so the kubelet gets no credentials`,
        );
        return 1;
      }
      out(`source: ${selected.source.description}`);
      const cache = new FileTokenCache(config.credentialProvider.cacheDirectory);
      const key = selected.source.cacheKey;
      if (selected.source.cacheable) out(`cache before: ${await cacheState(cache, key)}`);
      const warnings: string[] = [];
      const { response, source } = await provideCredentials(request, config, (line) =>
        warnings.push(line),
      );
      for (const line of warnings) out(`warning: ${line}`);
      if (source !== undefined && source.description !== selected.source.description)
        out(`answered by: ${source.description}`);
      for (const [authKey, credential] of Object.entries(response.auth)) {
        out(
          `answer: auth key ${authKey}, username ${credential.username}, password of ${credential.password.length} character${credential.password.length === 1 ? '' : 's'} (not shown)`,
        );
      }
      out(`answer: cacheKeyType ${response.cacheKeyType}, cacheDuration ${response.cacheDuration}`);
      if (source?.cacheable === true)
        out(`cache after: ${await cacheState(cache, source.cacheKey)}`);
      return Object.keys(response.auth).length > 0 ? 0 : 1;
    } catch (error) {
      if (error instanceof NodeConfigError || error instanceof CredentialUnavailableError) {
        out(`failed: ${error.message}`);
        return 1;
      }
      throw error;
    }
  },
};
