// Pre-pull benchmark with real peers: Debian's docker-registry (htpasswd auth), Debian's containerd
// serving the CRI, and the local stack. For images of 10, 100 and 500 MB of random content it prints:
//   cold      PullImage through the CRI on a node that holds nothing of the image (what a pod start
//             pays without a pre-pull), median of --runs;
//   warm      what a pod start pays once the image was pre-pulled: ImageStatus (IfNotPresent) and
//             PullImage of a held image (Always: a manifest round trip), p50/p99 of 200 calls;
//   e2e       a fresh push with skopeo → registry notification → local stack → FIFO → prepull-dispatch
//             → warm set → `pullwarden-node agent` (polling every 250 ms) → the image in containerd,
//             split into the push, the delivery until the agent starts pulling, and the agent's pull.
//
//   npm run bench:prepull [-- --sizes 10,100,500 --runs 3]

import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { parseNodeConfig } from '#shared/credentials/node-config.ts';
import { CriImageRuntime } from '#shared/cri/client.ts';
import { NodeAgent, runAgent } from '#shared/node/agent.ts';
import { HttpNodeApi } from '#shared/node/api-client.ts';
import { agentDependencies, openNodeServices } from '#shared/node/services.ts';
import { PULLWARDEN_VERSION } from '#shared/version.ts';
import { startContainerd } from '../test/support/containerd.ts';
import { startPushPipeline } from '../test/support/push-pipeline.ts';
import { pushOciImage } from '../test/support/registry.ts';
import { percentile } from './stats.ts';

const { values } = parseArgs({
  options: {
    sizes: { type: 'string', default: '10,100,500' },
    runs: { type: 'string', default: '3' },
  },
});
const sizes = values.sizes.split(',').map((text) => Number(text));
const runs = Number(values.runs);
if (sizes.some((size) => !Number.isInteger(size) || size < 1) || !(runs >= 1)) {
  console.error('usage: bench/prepull.ts [--sizes 10,100,500] [--runs 3]');
  process.exit(2);
}

const USER = 'bench';
const PASSWORD = 'bench-registry-password';
const NOTIFY = 'Bearer bench-notify-token';
const TOKEN = 'bench-agent-token';
const scratch = await mkdtemp(join(tmpdir(), 'pullwarden-bench-prepull-'));
const pipeline = await startPushPipeline({
  config: `apiVersion: pullwarden.dev/v1
kind: Config
nodeGroups:
  groups:
    general: { token: { env: BENCH_AGENT } }
webhooks:
  sources:
    distribution: { token: { env: BENCH_NOTIFY } }
prePull:
  rules:
    - name: bench
      images: ["127.0.0.1:*/e2e/**"]
      nodeGroups: [general]
`,
  secrets: { BENCH_NOTIFY: NOTIFY, BENCH_AGENT: TOKEN },
  username: USER,
  password: PASSWORD,
  notifyAuthorization: NOTIFY,
});
const { stack, registry } = pipeline;
const containerd = await startContainerd({ cri: true, plainHttpRegistries: [registry.host] });
const cri = new CriImageRuntime(containerd.endpoint);
const auth = { username: USER, password: PASSWORD };

const median = (samples: number[]) =>
  percentile(
    [...samples].sort((a, b) => a - b),
    0.5,
  );
const tail = (samples: number[]) => {
  const sorted = [...samples].sort((a, b) => a - b);
  return `${ms(percentile(sorted, 0.5))} / ${ms(percentile(sorted, 0.99))}`;
};
const ms = (value: number) => `${value.toFixed(value < 10 ? 2 : 0)} ms`;
const seconds = (value: number) => `${(value / 1000).toFixed(2)} s`;
const push = (repository: string, tag: string, megabytes: number) =>
  pushOciImage({
    registryHost: registry.host,
    repository,
    tag,
    username: USER,
    password: PASSWORD,
    layerBytes: megabytes * 1_000_000,
  });

const dockerConfig = join(scratch, 'docker-config.json');
await writeFile(
  dockerConfig,
  JSON.stringify({
    auths: { [registry.host]: { auth: Buffer.from(`${USER}:${PASSWORD}`).toString('base64') } },
  }),
);
const nodeConfig = await parseNodeConfig(
  JSON.stringify({
    apiVersion: 'pullwarden.dev/v1',
    kind: 'NodeConfig',
    credentialProvider: {
      cacheDirectory: join(scratch, 'cache'),
      registries: [{ source: 'docker-config', hosts: [registry.host], path: dockerConfig }],
    },
    prePull: {
      runtimeEndpoint: containerd.endpoint,
      registryEndpoints: [{ host: registry.host, url: registry.url }],
      disk: { minFreePercent: 0, minFreeBytes: 0 },
      agent: { stateFile: join(scratch, 'agent-state.json') },
    },
  }),
  'bench node config',
);
// When the agent started each pull, by image: splits the end-to-end time into delivery and pull.
const pullStarted = new Map<string, number>();
const agentLog = (line: string) => {
  const match = /^pulling (\S+) \(attempt 1 /.exec(line);
  if (match?.[1] !== undefined && !pullStarted.has(match[1]))
    pullStarted.set(match[1], performance.now());
};
const services = await openNodeServices(nodeConfig, {
  pinOwner: 'agent',
  env: process.env,
  log: agentLog,
});
const agent = new NodeAgent(
  {
    nodeGroup: 'general',
    node: 'bench-node',
    version: PULLWARDEN_VERSION,
    runtime: services.runtimeName,
  },
  agentDependencies(nodeConfig, services, {
    api: new HttpNodeApi(stack.url, 'general', async () => ({ authorization: `Bearer ${TOKEN}` })),
    log: () => undefined,
  }),
);
const stopAgent = new AbortController();
const agentLoop = runAgent(agent, 250, stopAgent.signal, () => undefined);
let peakRss = process.memoryUsage().rss;
const sampler = setInterval(() => {
  peakRss = Math.max(peakRss, process.memoryUsage().rss);
}, 100);

console.log(
  `pre-pull benchmark: containerd ${services.runtimeName.replace(/^containerd /, '')} (CRI, native snapshotter), docker-registry with htpasswd, ${runs} cold run(s)`,
);
const rows: string[][] = [];
try {
  for (const size of sizes) {
    const { digest } = await push(`cold/img-${size}mb`, 'v1', size);
    const image = `${registry.host}/cold/img-${size}mb@${digest}`;
    const cold: number[] = [];
    for (let run = 0; run < runs; run += 1) {
      // RemoveImage collects the content and snapshots synchronously: every run starts cold.
      if ((await cri.imageStatus(image)) !== undefined) await cri.removeImage(image);
      const started = performance.now();
      await cri.pullImage(image, auth, 30 * 60_000);
      cold.push(performance.now() - started);
    }
    const status: number[] = [];
    const always: number[] = [];
    for (let call = 0; call < 200; call += 1) {
      let started = performance.now();
      if ((await cri.imageStatus(image)) === undefined) throw new Error(`${image} is not held`);
      status.push(performance.now() - started);
      if (call < 50) {
        started = performance.now();
        await cri.pullImage(image, auth, 60_000);
        always.push(performance.now() - started);
      }
    }
    await cri.removeImage(image);

    // End to end: a fresh push the agent has never seen.
    const pushStarted = performance.now();
    const pushed = await push(`e2e/img-${size}mb`, 'v1', size);
    const pushDone = performance.now();
    const target = `${registry.host}/e2e/img-${size}mb@${pushed.digest}`;
    const deadline = Date.now() + 30 * 60_000;
    while ((await cri.imageStatus(target)) === undefined) {
      if (Date.now() > deadline) throw new Error(`${target} never arrived`);
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    const present = performance.now();
    const started = pullStarted.get(target) ?? Number.NaN;
    rows.push([
      `${size} MB`,
      seconds(median(cold)),
      `${seconds(Math.min(...cold))}–${seconds(Math.max(...cold))}`,
      tail(status),
      tail(always),
      seconds(pushDone - pushStarted),
      seconds(started - pushDone),
      seconds(present - started),
      seconds(present - pushStarted),
    ]);
    // Left in place: it stays in the warm set, and the agent would pull it again while the next size
    // is measured.
  }
} finally {
  clearInterval(sampler);
  stopAgent.abort();
  await agentLoop;
  services.close();
  cri.close();
  await containerd.stop();
  await pipeline.stop();
  await rm(scratch, { recursive: true, force: true });
}

const header = [
  'image',
  'cold p50',
  'cold min–max',
  'warm IfNotPresent p50/p99',
  'warm Always p50/p99',
  'push',
  'push→pull starts',
  'agent pull',
  'e2e',
];
const widths = header.map((title, column) =>
  Math.max(title.length, ...rows.map((row) => row[column]?.length ?? 0)),
);
const line = (cells: string[]) =>
  cells.map((cell, column) => cell.padEnd(widths[column] ?? 0)).join('  ');
console.log(line(header));
for (const row of rows) console.log(line(row));
console.log(
  `peak RSS of this process (local stack, agent, bench): ${Math.round(peakRss / 2 ** 20)} MiB`,
);
