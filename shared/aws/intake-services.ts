import type { Config } from '#shared/config/schema.ts';
import type { IntakeDependencies } from '#shared/intake/pipeline.ts';
import type { WebhookDependencies } from '#shared/intake/webhook-http.ts';
import type { DispatchBatchDependencies } from '#shared/prepull/dispatch-batch.ts';
import type { WarmSetDependencies } from '#shared/prepull/warm-set-http.ts';
import { HttpDigestResolver } from '#shared/registry/digest-resolver.ts';
import { getStringFromEnv } from '#shared/runtime/env.ts';
import { logger } from './powertools.ts';
import {
  loadConfig,
  prepullQueue,
  secretResolver,
  ssmPullCommands,
  stateStore,
} from './services.ts';

// Wiring of the push-intake and pre-pull functions to the shared AWS side effects.

const now = () => new Date();

export function intakeDependencies(config: Config): IntakeDependencies {
  return {
    config,
    store: stateStore(),
    queue: prepullQueue(),
    resolver: new HttpDigestResolver(config, secretResolver),
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

export const warmSetDependencies: WarmSetDependencies = {
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
};
