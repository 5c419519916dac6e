import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { StoredFinding } from '#shared/findings/model.ts';
import { type LocalStack, startLocalStack } from '#shared/local/stack.ts';
import { eventually } from '../support/async.ts';
import { deploymentPod, type Json, node, watch } from '../support/cluster.ts';
import { pushOciImage, type RunningRegistry, startRegistry } from '../support/registry.ts';

// Cluster events end to end on the local stack with a real registry: pods report the digest they run,
// skopeo re-pushes their tag, the registry's notification reaches the intake, and PW009 is raised for
// the workload within seconds; the sweep closes it once the pods run the new build. A node that joins
// gets its node group's images queued, and on an SSM node group a pull command for that instance alone.

const root = fileURLToPath(new URL('../..', import.meta.url));
const USER = 'ci-bot';
const SECRETS = {
  CS_REGISTRY_PASSWORD: 'registry-password-2',
  CS_NOTIFY_TOKEN: 'Bearer notify-token-2',
  CS_EVENTS_TOKEN: 'events-token-2',
};

let scratch: string;
let stack: LocalStack;
let registry: RunningRegistry;
let forwarder: Server;
let target = '';
const logs: string[] = [];

before(async () => {
  Object.assign(process.env, SECRETS, { POWERTOOLS_LOG_LEVEL: 'ERROR' });
  scratch = await mkdtemp(join(tmpdir(), 'pullwarden-cluster-stack-'));
  // The registry must know where to notify before the stack (whose config names the registry) starts.
  forwarder = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      fetch(`${target}${request.url}`, {
        method: request.method ?? 'POST',
        headers: request.headers as Record<string, string>,
        body: Buffer.concat(chunks),
      })
        .then(async (answer) => {
          response.writeHead(answer.status, { 'content-type': 'application/json' });
          response.end(Buffer.from(await answer.arrayBuffer()));
        })
        .catch(() => {
          response.writeHead(502);
          response.end();
        });
    });
  });
  await new Promise<void>((resolve) => forwarder.listen(0, '127.0.0.1', resolve));
  const forwardTo = `http://127.0.0.1:${(forwarder.address() as AddressInfo).port}`;
  registry = await startRegistry({
    username: USER,
    password: SECRETS.CS_REGISTRY_PASSWORD,
    notifications: {
      url: `${forwardTo}/webhooks/distribution`,
      headers: { Authorization: [SECRETS.CS_NOTIFY_TOKEN] },
    },
  });
  await writeFile(
    join(scratch, 'pullwarden.yaml'),
    `
apiVersion: pullwarden.dev/v1
kind: Config
registries:
  endpoints:
    - host: "${registry.host}"
      url: ${registry.url}
      username: ${USER}
      password: { env: CS_REGISTRY_PASSWORD }
  cacheSeconds: 0
webhooks:
  sources:
    distribution: { token: { env: CS_NOTIFY_TOKEN } }
clusterEvents:
  token: { env: CS_EVENTS_TOKEN }
nodeGroups:
  groups:
    general:
      executor: ssm
      ssm: { targetTag: { key: eks:nodegroup-name, value: general } }
prePull:
  followInventory: false
  rules:
    - name: team
      images: ["127.0.0.1:*/team/**"]
      nodeGroups: [general]
`,
  );
  stack = await startLocalStack({
    root,
    configFile: join(scratch, 'pullwarden.yaml'),
    port: 0,
    log: { info: (line) => logs.push(line), error: (line) => logs.push(`error: ${line}`) },
  });
  target = stack.url;
});
after(async () => {
  await registry?.stop();
  await stack?.stop();
  forwarder?.closeAllConnections();
  await new Promise((resolve) => forwarder?.close(resolve));
  await rm(scratch, { recursive: true, force: true });
});

function until<T>(what: string, probe: () => Promise<T | undefined>): Promise<T> {
  return eventually(what, probe, { explain: () => logs.join('\n') });
}

const push = (tag: string, seed: string) =>
  pushOciImage({
    registryHost: registry.host,
    repository: 'team/api',
    tag,
    username: USER,
    password: SECRETS.CS_REGISTRY_PASSWORD,
    seed,
  });

async function postEvents(entries: Json[]): Promise<Json> {
  const response = await fetch(`${stack.url}/cluster-events`, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-ndjson',
      authorization: `Bearer ${SECRETS.CS_EVENTS_TOKEN}`,
    },
    body: entries.map((entry) => JSON.stringify(entry)).join('\n'),
  });
  assert.equal(response.status, 202, await response.clone().text());
  return (await response.json()) as Json;
}

async function findings(query: string): Promise<StoredFinding[]> {
  const response = await fetch(`${stack.url}/v1/findings?${query}`);
  assert.equal(response.status, 200);
  return ((await response.json()) as { findings: StoredFinding[] }).findings;
}

function apiPods(digest: string, resourceVersion: string): Json[] {
  const image = `${registry.host}/team/api:1.0`;
  return [1, 2].map((index) =>
    watch(
      'MODIFIED',
      deploymentPod('shop', 'api', index, {
        nodeName: `node-${index}`,
        resourceVersion: `${resourceVersion}${index}`,
        containers: [
          {
            name: 'api',
            image,
            imagePullPolicy: 'IfNotPresent',
            imageID: `${registry.host}/team/api@${digest}`,
          },
        ],
      }),
    ),
  );
}

test('a re-pushed tag raises PW009 for the workloads that run the old build; the sweep closes it', async () => {
  const first = await push('1.0', 'build-1');
  await postEvents([
    watch('ADDED', node('node-1', 'general', { createdAt: '2026-01-01T00:00:00Z' })),
    watch('ADDED', node('node-2', 'general', { createdAt: '2026-01-01T00:00:00Z' })),
    ...apiPods(first.digest, '50'),
  ]);
  const second = await push('1.0', 'build-2');
  assert.notEqual(second.digest, first.digest);
  const [raised] = await until('PW009 for Deployment shop/api', async () => {
    const open = await findings('rule=PW009');
    return open.length > 0 ? open : undefined;
  });
  assert.deepEqual(raised?.workload, { kind: 'Deployment', namespace: 'shop', name: 'api' });
  assert.equal(raised?.origin, 'push');
  assert.match(raised?.message ?? '', /2 pod\(s\) run .* but the registry now serves/);
  assert.ok(raised?.evidence.some((line) => line.includes(second.digest)));
  assert.ok(raised?.evidence.some((line) => line.includes(first.digest)));

  // The sweep sees the same drift: the finding stays open, once.
  await stack.runSchedule('driftSweep');
  assert.equal((await findings('rule=PW009')).length, 1);

  // The pods restart on the new build; the next sweep closes the finding and keeps it readable.
  await postEvents(apiPods(second.digest, '60'));
  await stack.runSchedule('driftSweep');
  assert.deepEqual(await findings('rule=PW009'), []);
  const closed = await findings('rule=PW009&status=closed');
  assert.equal(closed.length, 1);
  assert.equal(closed[0]?.id, raised?.id);
});

test('a joining node gets its node group’s warm set queued and pulled on that instance only', async () => {
  const pushed = await push('2.0', 'build-3');
  // The push reaches the warm set of general (rule "team") through the prepull queue.
  await until('the push in the warm set', async () => {
    const commands = stack.commands.filter((command) =>
      command.parameters.image?.[0]?.endsWith(pushed.digest),
    );
    return commands.length > 0 ? commands : undefined;
  });
  const answer = await postEvents([
    watch(
      'ADDED',
      node('node-9', 'general', {
        createdAt: new Date(Date.now() - 60_000).toISOString(),
        instanceId: 'i-0aaaabbbbccccdddd',
      }),
    ),
  ]);
  const joins = answer.nodeJoins as { nodeGroup: string; status: string; queued: number }[];
  assert.equal(joins[0]?.status, 'queued');
  assert.ok((joins[0]?.queued ?? 0) >= 1);
  const forInstance = await until('a pull command for the joining instance', async () => {
    const sent = stack.commands.filter(
      (command) =>
        command.instanceIds?.includes('i-0aaaabbbbccccdddd') &&
        command.parameters.image?.[0]?.endsWith(pushed.digest),
    );
    return sent.length > 0 ? sent : undefined;
  });
  assert.equal(forInstance.length, 1);
  assert.deepEqual(forInstance[0]?.targets, []);
});
