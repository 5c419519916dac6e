import type { Config } from '#shared/config/schema.ts';
import type { SecretResolver } from '#shared/config/secret-ref.ts';
import { CachingResolver } from './caching-resolver.ts';
import { type DigestResolver, HttpDigestResolver } from './digest-resolver.ts';
import { EcrDigestResolver, type EcrImagesOfRegion } from './ecr-resolver.ts';
import { RoutingResolver } from './routing-resolver.ts';

// The resolver drift comparison uses: ECR or the Distribution API by host, index children always
// listed, answers reused for registries.cacheSeconds.

export interface RegistryResolverDependencies {
  secrets: SecretResolver;
  /** BatchGetImage of a region. */
  ecr: EcrImagesOfRegion;
  now: () => Date;
}

export function createRegistryResolver(
  config: Config,
  dependencies: RegistryResolverDependencies,
): DigestResolver {
  const routing = new RoutingResolver(config, {
    http: new HttpDigestResolver(config, dependencies.secrets, { readIndexChildren: true }),
    ecr: new EcrDigestResolver(dependencies.ecr),
  });
  return new CachingResolver(routing, {
    ttlSeconds: config.registries.cacheSeconds,
    now: dependencies.now,
  });
}
