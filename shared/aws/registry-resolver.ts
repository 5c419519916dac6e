import { BatchGetImageCommand, ECRClient } from '@aws-sdk/client-ecr';
import type { Config } from '#shared/config/schema.ts';
import { createRegistryResolver } from '#shared/registry/create-resolver.ts';
import type { DigestResolver } from '#shared/registry/digest-resolver.ts';
import type { BatchGetImage } from '#shared/registry/ecr-resolver.ts';
import { secretResolver } from './services.ts';

// The process-wide registry resolver: one per configuration object (loadConfig hands out the same one
// while the configuration is unchanged), so its cache outlives an invocation. ECR clients are made once
// per region under the function's own role; the SDK reads AWS_ENDPOINT_URL_ECR itself, which is how the
// local stack and tests point them at a stand-in.

const ecrClients = new Map<string, ECRClient>();
const resolvers = new WeakMap<Config, DigestResolver>();
const freshResolvers = new WeakMap<Config, DigestResolver>();

function batchGetImage(region: string): BatchGetImage {
  let client = ecrClients.get(region);
  if (client === undefined) {
    client = new ECRClient({
      region,
      requestHandler: { requestTimeout: 10_000, connectionTimeout: 3000 },
    });
    ecrClients.set(region, client);
  }
  const ecr = client;
  return (input) => ecr.send(new BatchGetImageCommand(input));
}

/** Answers reused for registries.cacheSeconds: sweeps, node warm-ups. */
export function registryResolver(config: Config): DigestResolver {
  return resolverFor(config, resolvers, false);
}

/** The registry's answer of the moment: pushes, whose tag has just moved. */
export function freshRegistryResolver(config: Config): DigestResolver {
  return resolverFor(config, freshResolvers, true);
}

function resolverFor(
  config: Config,
  made: WeakMap<Config, DigestResolver>,
  fresh: boolean,
): DigestResolver {
  let resolver = made.get(config);
  if (resolver === undefined) {
    resolver = createRegistryResolver(config, {
      secrets: secretResolver,
      ecr: batchGetImage,
      now: () => new Date(),
      fresh,
    });
    made.set(config, resolver);
  }
  return resolver;
}
