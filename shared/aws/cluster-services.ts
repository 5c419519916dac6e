import type { ClusterEventsEntryDependencies } from '#shared/cluster/entry.ts';
import type { ClusterEventDependencies } from '#shared/cluster/ingest.ts';
import type { Config } from '#shared/config/schema.ts';
import type { SweepDependencies } from '#shared/findings/sweep.ts';
import { logger, publishMetrics } from './powertools.ts';
import { registryResolver } from './registry-resolver.ts';
import {
  findingsStore,
  inventory,
  loadConfig,
  prepullQueue,
  pullTelemetry,
  secretResolver,
  stateStore,
} from './services.ts';

// Wiring of cluster-events and drift-sweep to the shared AWS side effects.

const now = () => new Date();

export function clusterEventDependencies(config: Config): ClusterEventDependencies {
  return {
    config,
    inventory: inventory(),
    store: stateStore(),
    queue: prepullQueue(),
    findings: findingsStore(),
    telemetry: pullTelemetry(),
    resolver: registryResolver(config),
    now,
  };
}

export const clusterEventsEntryDependencies: ClusterEventsEntryDependencies = {
  loadConfig,
  secrets: secretResolver,
  ingest: clusterEventDependencies,
  publish: publishMetrics,
  log: logger,
};

export function sweepDependencies(config: Config): SweepDependencies {
  return {
    config,
    inventory: inventory(),
    findings: findingsStore(),
    resolver: registryResolver(config),
    now,
  };
}
