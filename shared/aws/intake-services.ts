import type { Config } from '#shared/config/schema.ts';
import { tagWatch } from '#shared/findings/tag-watch.ts';
import type { IntakeDependencies } from '#shared/intake/pipeline.ts';
import type { WebhookDependencies } from '#shared/intake/webhook-http.ts';
import type { DispatchBatchDependencies } from '#shared/prepull/dispatch-batch.ts';
import type { NodeGroupApiDependencies } from '#shared/prepull/node-group-api.ts';
import { getStringFromEnv } from '#shared/runtime/env.ts';
import { logger } from './powertools.ts';
import { freshRegistryResolver } from './registry-resolver.ts';
import {
  findingsStore,
  inventory,
  loadConfig,
  prepullQueue,
  secretResolver,
  ssmPullCommands,
  stateStore,
} from './services.ts';

// Wiring of the push-intake and pre-pull functions to the shared AWS side effects.

const now = () => new Date();

export function intakeDependencies(config: Config): IntakeDependencies {
  const resolver = freshRegistryResolver(config);
  return {
    config,
    store: stateStore(),
    inventory: inventory(),
    queue: prepullQueue(),
    resolver,
    tagWatch: tagWatch({
      config,
      inventory: inventory(),
      findings: findingsStore(),
      resolver,
      log: logger,
      now,
    }),
    now,
  };
}

export const webhookDependencies: WebhookDependencies = {
  loadConfig,
  secrets: secretResolver,
  intake: intakeDependencies,
  logger,
  now,
};

export const dispatchBatchDependencies: DispatchBatchDependencies = {
  loadConfig,
  dispatch: (config) => ({ config, store: stateStore(), commands: ssmPullCommands, now }),
  logger,
};

export const nodeGroupApiDependencies: NodeGroupApiDependencies = {
  loadConfig,
  get store() {
    return stateStore();
  },
  secrets: secretResolver,
  authentication:
    getStringFromEnv({ key: 'PULLWARDEN_API_AUTH', defaultValue: 'iam' }) === 'token'
      ? 'token'
      : 'iam',
  logger,
  now,
};
