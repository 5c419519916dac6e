// npm run bench:inventory — ingests a cluster's watch stream into the inventory on the embedded
// DynamoDB emulator, the way the cluster-events function does (deliveries of --batch events, --concurrency
// deliveries at a time), and prints events/s, DynamoDB calls per event, per-delivery latency and memory.
// The stream is the bench:drift cluster (nodes, pods and their workloads) as ADDED events.
// Options: --pods N (default 150000; nodes follow as pods/30, at most 5,000), --batch N (default 100),
// --concurrency N (default 8), --seed N.
import { createReadStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { DynamoStateStore } from '#shared/aws/dynamo-state-store.ts';
import { DynamoFindingsStore } from '#shared/aws/findings-store.ts';
import { DynamoInventory } from '#shared/aws/inventory-store.ts';
import { DynamoPullTelemetry } from '#shared/aws/pull-telemetry-store.ts';
import { parseDelivery } from '#shared/cluster/events.ts';
import { type ClusterEventDependencies, ingestClusterEvents } from '#shared/cluster/ingest.ts';
import { DEFAULT_CONFIG } from '#shared/config/schema.ts';
import { startEmulators } from '#shared/local/emulators.ts';
import { provision } from '#shared/local/provision.ts';
import { DigestResolutionError } from '#shared/registry/digest-resolver.ts';
import { writeClusterDump } from './generate-cluster.ts';
import { percentile } from './stats.ts';

const { values } = parseArgs({
  options: {
    pods: { type: 'string', default: '150000' },
    batch: { type: 'string', default: '100' },
    concurrency: { type: 'string', default: '8' },
    seed: { type: 'string', default: '7' },
  },
});
const pods = Number(values.pods);
const batch = Number(values.batch);
const concurrency = Number(values.concurrency);

const dump = join(tmpdir(), `pullwarden-inventory-bench-${process.pid}.ndjson`);
const summary = await writeClusterDump({
  pods,
  out: dump,
  format: 'watch-ndjson',
  seed: Number(values.seed),
});
const events = summary.objects;

/** The stream in deliveries of `batch` lines, read as they are needed. */
async function* readDeliveries(): AsyncGenerator<string> {
  let lines: string[] = [];
  for await (const line of createInterface({ input: createReadStream(dump) })) {
    if (line === '') continue;
    lines.push(line);
    if (lines.length === batch) {
      yield lines.join('\n');
      lines = [];
    }
  }
  if (lines.length > 0) yield lines.join('\n');
}

const emulators = await startEmulators();
let calls = 0;
emulators.dynamo.middlewareStack.add(
  (next) => async (args) => {
    calls++;
    return next(args);
  },
  { step: 'initialize', name: 'countCalls' },
);
const resources = await provision(
  fileURLToPath(new URL('../infra/cloudformation/intake-resources.yml', import.meta.url)),
  { 'self:service': 'bench', 'sls:stage': 'inventory' },
  emulators,
);
const table = resources.tables.StateTable as string;
const deps: ClusterEventDependencies = {
  config: DEFAULT_CONFIG,
  inventory: new DynamoInventory(emulators.dynamo, table),
  store: new DynamoStateStore(emulators.dynamo, table),
  queue: { send: async () => ({ calls: 0 }) },
  findings: new DynamoFindingsStore(emulators.dynamo, table),
  telemetry: new DynamoPullTelemetry(emulators.dynamo, table),
  resolver: {
    resolve: async () => {
      throw new DigestResolutionError('the benchmark resolves no tags', 'network');
    },
  },
  now: () => new Date(),
};

const deliveryCount = Math.ceil(events / batch);
console.log(
  `inventory: ${summary.nodes} nodes, ${summary.pods} pods, ${summary.workloads} workloads → ${events} watch events in ${deliveryCount} deliveries of ${batch}, ${concurrency} at a time`,
);
let peakRss = process.memoryUsage().rss;
const latencies: number[] = [];
let applied = 0;
let done = 0;
const deliveries = readDeliveries();
const started = performance.now();
const progress = setInterval(() => {
  peakRss = Math.max(peakRss, process.memoryUsage().rss);
  const seconds = (performance.now() - started) / 1000;
  process.stderr.write(
    `\r${done}/${deliveryCount} deliveries, ${Math.round((done * batch) / seconds)} events/s   `,
  );
}, 1000);
await Promise.all(
  Array.from({ length: concurrency }, async () => {
    for (let next = await deliveries.next(); !next.done; next = await deliveries.next()) {
      const delivery = next.value;
      const begin = performance.now();
      const result = await ingestClusterEvents(parseDelivery(delivery), deps);
      latencies.push(performance.now() - begin);
      applied += result.watch.applied;
      done++;
    }
  }),
);
clearInterval(progress);
process.stderr.write('\n');
const seconds = (performance.now() - started) / 1000;
peakRss = Math.max(peakRss, process.memoryUsage().rss);
latencies.sort((a, b) => a - b);
await emulators.stop();
await rm(dump, { force: true });

console.log(`applied:            ${applied} of ${events} events`);
console.log(`elapsed:            ${seconds.toFixed(1)} s`);
console.log(`throughput:         ${Math.round(events / seconds)} events/s`);
console.log(`DynamoDB calls:     ${calls} (${(calls / events).toFixed(2)} per event)`);
console.log(
  `delivery latency:   p50 ${percentile(latencies, 0.5).toFixed(0)} ms, p99 ${percentile(latencies, 0.99).toFixed(0)} ms (${batch} events each)`,
);
console.log(`peak RSS:           ${(peakRss / 1024 / 1024).toFixed(0)} MiB`);
