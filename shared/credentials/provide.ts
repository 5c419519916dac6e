import {
  answerCredentialRequest,
  type CredentialSource,
  CredentialUnavailableError,
} from './answer.ts';
import type { NodeConfig } from './node-config.ts';
import type { CredentialProviderRequest, CredentialProviderResponse } from './protocol.ts';
import { policyOf, selectSource } from './select.ts';
import { FileTokenCache } from './token-cache.ts';

// One credential request answered with the node's config, cache and clock: what the kubelet's exec
// and `doctor credentials` both run.

export interface Provided {
  response: CredentialProviderResponse;
  /** The source that answered; undefined when the node config serves no such registry. */
  source?: CredentialSource;
  cache: FileTokenCache;
}

export async function provideCredentials(
  request: CredentialProviderRequest,
  config: NodeConfig,
  warn: (line: string) => void,
): Promise<Provided> {
  const selected = selectSource(request, config);
  const cache = new FileTokenCache(config.credentialProvider.cacheDirectory);
  const deps = {
    cache,
    now: () => new Date(),
    random: Math.random,
    sleep: (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)),
    warn,
  };
  const policy = policyOf(config);
  try {
    const response = await answerCredentialRequest(request, selected?.source, policy, deps);
    return { response, cache, ...(selected === undefined ? {} : { source: selected.source }) };
  } catch (error) {
    if (!(error instanceof CredentialUnavailableError) || selected?.fallback === undefined)
      throw error;
    warn(`${error.message}; using the node's own credentials (serviceAccount.onFailure: node)`);
    const response = await answerCredentialRequest(request, selected.fallback, policy, deps);
    return { response, cache, source: selected.fallback };
  }
}
