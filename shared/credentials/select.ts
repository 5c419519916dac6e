import { parseEcrRegistryHost } from '#shared/ecr/registry-host.ts';
import { urlsMatch } from '#shared/kubelet/url-glob.ts';
import type { CredentialPolicy, CredentialSource } from './answer.ts';
import type { EcrSettings, NodeConfig } from './node-config.ts';
import { type CredentialProviderRequest, registryOfImage } from './protocol.ts';
import { brokeredSource } from './sources/brokered.ts';
import { dockerConfigSource } from './sources/docker-config.ts';
import { type EcrIdentity, ecrSource, tokenSubject } from './sources/ecr.ts';

// Which source, if any, answers a request. Only registries the node config lists are served: ECR by its
// exact host grammar (optionally narrowed to accounts and regions), docker configs by their host
// patterns, and mirrors by an explicit map to the registry whose credentials they take.

export interface SelectedSource {
  source: CredentialSource;
  /** The same registry with the node's own identity, when a role could not be assumed and that is allowed. */
  fallback?: CredentialSource;
}

function ecrIdentity(
  request: CredentialProviderRequest,
  settings: EcrSettings,
  account: string | undefined,
): EcrIdentity {
  const token = request.serviceAccountToken;
  if (token === undefined) return { kind: 'node' };
  const annotations = request.serviceAccountAnnotations ?? {};
  const annotated = settings.serviceAccount.roleAnnotations
    .map((key) => annotations[key])
    .find((value) => value !== undefined && value !== '');
  const roleArn =
    annotated ??
    (account === undefined ? undefined : settings.serviceAccount.accountRoles[account]);
  if (roleArn === undefined) return { kind: 'node' };
  const subject = tokenSubject(token);
  return {
    kind: 'web-identity',
    roleArn,
    webIdentityToken: token,
    ...(subject === undefined ? {} : { subject }),
  };
}

export function policyOf(config: NodeConfig): CredentialPolicy {
  const settings = config.credentialProvider;
  return {
    cacheKeyType: settings.cacheKeyType,
    maxCacheSeconds: settings.maxCacheDuration,
    staticCacheSeconds: settings.staticCacheDuration,
    safetyMarginSeconds: settings.safetyMargin,
    refreshBeforeSeconds: settings.refreshBefore,
    // The kubelet kills an exec after 60 s: minting ends within 25 s, and execs waiting for it give up
    // after 30 s, with time left to answer from the cache or mint themselves.
    deadlineMs: 25_000,
    maxAttempts: 5,
  };
}

export function selectSource(
  request: CredentialProviderRequest,
  config: NodeConfig,
): SelectedSource | undefined {
  const settings = config.credentialProvider;
  const requested = registryOfImage(request.image);
  const mirror = settings.mirrors.find((entry) => entry.host === requested);
  const registryHost = mirror?.registry ?? requested;
  const image =
    mirror === undefined
      ? request.image
      : `${registryHost}${request.image.slice(requested.length)}`;
  const requestTimeoutMs = settings.requestTimeout * 1000;

  for (const entry of settings.registries) {
    if (entry.source === 'brokered') {
      if (!entry.hosts.some((pattern) => urlsMatch(pattern, image))) continue;
      return { source: brokeredSource(entry, registryHost, requested, requestTimeoutMs) };
    }
    if (entry.source === 'docker-config') {
      if (!entry.hosts.some((pattern) => urlsMatch(pattern, image))) continue;
      const source = dockerConfigSource(entry.path, image);
      if (mirror === undefined) return { source };
      // Through a mirror, the kubelet matches auth keys against the mirror's name, not the key the
      // docker config stores the registry's credentials under.
      return {
        source: {
          ...source,
          authKeys: [requested],
          mint: async () => ({ ...(await source.mint()), authKeys: [requested] }),
        },
      };
    }
    const registry = parseEcrRegistryHost(registryHost);
    if (registry === undefined) continue;
    if (registry.kind === 'public' && !entry.public) continue;
    if (registry.kind === 'private') {
      if (entry.accounts !== undefined && !entry.accounts.includes(registry.account)) continue;
      if (entry.regions !== undefined && !entry.regions.includes(registry.region)) continue;
    }
    const options = {
      requestTimeoutMs,
      ...(entry.endpoint === undefined ? {} : { endpoint: entry.endpoint }),
      ...(entry.stsEndpoint === undefined ? {} : { stsEndpoint: entry.stsEndpoint }),
    };
    const identity = ecrIdentity(
      request,
      entry,
      registry.kind === 'private' ? registry.account : undefined,
    );
    const build = (who: EcrIdentity) => {
      const source = ecrSource(registry, registryHost, who, options);
      return mirror === undefined ? source : { ...source, authKeys: [requested] };
    };
    const source = build(identity);
    return identity.kind === 'web-identity' && entry.serviceAccount.onFailure === 'node'
      ? { source, fallback: build({ kind: 'node' }) }
      : { source };
  }
  return undefined;
}
