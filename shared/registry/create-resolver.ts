import type { Config } from '#shared/config/schema.ts';
import type { SecretResolver } from '#shared/config/secret-ref.ts';
import { CachingResolver } from './caching-resolver.ts';
import { type DigestResolver, HttpDigestResolver } from './digest-resolver.ts';
import { EcrDigestResolver, type EcrImagesOfRegion } from './ecr-resolver.ts';
import { RoutingResolver } from './routing-resolver.ts';

// The resolvers pullwarden uses: ECR or the Distribution API by host, index children always listed.
// The sweep and node warm-ups reuse answers for registries.cacheSeconds; a push is judged against the
// registry's answer of that moment (`fresh`), since the tag has just moved.

export interface RegistryResolverDependencies {
  secrets: SecretResolver;
  /** BatchGetImage of a region. */
  ecr: EcrImagesOfRegion;
  now: () => Date;
  /** Ask the registry every time, whatever registries.cacheSeconds says. */
  fresh?: boolean;
}

export function createRegistryResolver(
  config: Config,
  dependencies: RegistryResolverDependencies,
): DigestResolver {
  const routing = new RoutingResolver(config, {
    http: new HttpDigestResolver(config, dependencies.secrets, { readIndexChildren: true }),
    ecr: new EcrDigestResolver(dependencies.ecr),
  });
  if (dependencies.fresh === true) return routing;
  return new CachingResolver(routing, {
    ttlSeconds: config.registries.cacheSeconds,
    now: dependencies.now,
  });
}
