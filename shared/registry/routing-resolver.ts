import type { Config } from '#shared/config/schema.ts';
import { parseEcrRegistryHost } from '#shared/ecr/registry-host.ts';
import { configuredEndpoint, type DigestResolver, type ResolvedDigest } from './digest-resolver.ts';

// Sends each registry to the resolver that can answer for it: private ECR hosts to the ECR API, unless
// registries.endpoints gives the host a URL (a pull-through mirror, a loopback stand-in), which is then
// spoken to over the Distribution API like every other registry, ECR Public included.

export interface RoutedResolvers {
  http: DigestResolver;
  ecr: DigestResolver;
}

export class RoutingResolver implements DigestResolver {
  private readonly config: Config;
  private readonly routes: RoutedResolvers;

  constructor(config: Config, routes: RoutedResolvers) {
    this.config = config;
    this.routes = routes;
  }

  /** Which resolver answers for `registry`. */
  routeOf(registry: string): keyof RoutedResolvers {
    const ecr = parseEcrRegistryHost(registry);
    if (ecr?.kind !== 'private') return 'http';
    return configuredEndpoint(this.config, registry)?.url === undefined ? 'ecr' : 'http';
  }

  resolve(registry: string, repository: string, tag: string): Promise<ResolvedDigest> {
    return this.routes[this.routeOf(registry)].resolve(registry, repository, tag);
  }
}
