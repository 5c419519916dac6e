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

export function registryResolver(config: Config): DigestResolver {
  let resolver = resolvers.get(config);
  if (resolver === undefined) {
    resolver = createRegistryResolver(config, {
      secrets: secretResolver,
      ecr: batchGetImage,
      now: () => new Date(),
    });
    resolvers.set(config, resolver);
  }
  return resolver;
}
