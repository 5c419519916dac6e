import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { CriImageRuntime } from '#shared/cri/client.ts';
import type { LocalStack } from '#shared/local/stack.ts';
import { eventually } from '../support/async.ts';
import { type RunningContainerd, startContainerd } from '../support/containerd.ts';
import { runProcess } from '../support/process.ts';
import { type PushPipeline, startPushPipeline } from '../support/push-pipeline.ts';
import { pushOciImage, type RunningRegistry } from '../support/registry.ts';

// The whole pre-pull path with real peers: skopeo pushes to Debian's docker-registry (htpasswd auth),
// whose notification reaches the local stack; the FIFO queue and prepull-dispatch put the digest in the
// node group's warm set; `pullwarden-node agent --once` reads it and pulls through the CRI of Debian's
// containerd with the credentials of the node's docker-config source. The image must then be in the
// runtime by digest — and again after it is removed from the runtime.

const root = fileURLToPath(new URL('../..', import.meta.url));
const USER = 'agent-ci';
const SECRETS = {
  NA_REGISTRY_PASSWORD: 'agent-registry-password-1',
  NA_NOTIFY_TOKEN: 'Bearer agent-notify-token-1',
  NA_AGENT_TOKEN: 'agent-node-token-1',
};

const CONFIG = `
apiVersion: pullwarden.dev/v1
kind: Config
nodeGroups:
  groups:
    general: { token: { env: NA_AGENT_TOKEN } }
webhooks:
  sources:
    distribution: { token: { env: NA_NOTIFY_TOKEN } }
prePull:
  rules:
    - name: team
      images: ["127.0.0.1:*/team/**"]
      nodeGroups: [general]
`;

let scratch: string;
let pipeline: PushPipeline;
let stack: LocalStack;
let registry: RunningRegistry;
let containerd: RunningContainerd;
let cri: CriImageRuntime;
let logs: string[];

before(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'pullwarden-node-agent-'));
  pipeline = await startPushPipeline({
    config: CONFIG,
    secrets: SECRETS,
    username: USER,
    password: SECRETS.NA_REGISTRY_PASSWORD,
    notifyAuthorization: SECRETS.NA_NOTIFY_TOKEN,
  });
  ({ stack, registry, logs } = pipeline);
  containerd = await startContainerd({ cri: true, plainHttpRegistries: [registry.host] });
  cri = new CriImageRuntime(containerd.endpoint);
});
after(async () => {
  cri?.close();
  await containerd?.stop();
  await pipeline?.stop();
  await rm(scratch, { recursive: true, force: true });
});

async function until(what: string, done: () => Promise<boolean>): Promise<void> {
  await eventually(what, done, { explain: () => logs.join('\n') });
}

async function warmDigests(): Promise<string[]> {
  const response = await fetch(`${stack.url}/v1/nodegroups/general/warmset`, {
    headers: { authorization: `Bearer ${SECRETS.NA_AGENT_TOKEN}` },
  });
  assert.equal(response.status, 200);
  return ((await response.json()) as { images: { digest: string }[] }).images.map(
    (image) => image.digest,
  );
}

interface ImageStatusRow {
  digest: string;
  present: string[];
  pulling: string[];
  failed: { node: string; cause: string; reason?: string }[];
  missing: string[];
}

async function groupStatus(): Promise<ImageStatusRow[]> {
  const response = await fetch(`${stack.url}/v1/nodegroups/general/status`);
  assert.equal(response.status, 200);
  return ((await response.json()) as { images: ImageStatusRow[] }).images;
}

async function nodeConfig(name: string, password: string) {
  const dockerConfig = join(scratch, `${name}-docker-config.json`);
  await writeFile(
    dockerConfig,
    JSON.stringify({
      auths: { [registry.host]: { auth: Buffer.from(`${USER}:${password}`).toString('base64') } },
    }),
  );
  const file = join(scratch, `${name}.json`);
  await writeFile(
    file,
    JSON.stringify({
      apiVersion: 'pullwarden.dev/v1',
      kind: 'NodeConfig',
      credentialProvider: {
        cacheDirectory: join(scratch, `${name}-cache`),
        registries: [{ source: 'docker-config', hosts: [registry.host], path: dockerConfig }],
      },
      prePull: {
        runtimeEndpoint: containerd.endpoint,
        registryEndpoints: [{ host: registry.host, url: registry.url }],
        backoff: '100ms',
        agent: {
          server: stack.url,
          nodeGroup: 'general',
          auth: 'token',
          stateFile: join(scratch, `${name}-state.json`),
        },
      },
    }),
  );
  return file;
}

async function agentOnce(config: string, node: string) {
  const result = await runProcess(
    process.execPath,
    [
      join(root, 'cmd/pullwarden-node/main.ts'),
      'agent',
      '--once',
      '--config',
      config,
      '--node-name',
      node,
    ],
    { env: { ...process.env, PULLWARDEN_AGENT_TOKEN: SECRETS.NA_AGENT_TOKEN } },
  );
  const lines = result.stdout
    .split('\n')
    .filter((line) => line !== '')
    .map(
      (line) =>
        JSON.parse(line) as { image: string; outcome: string; cause?: string; reason?: string },
    );
  return { ...result, lines };
}

test('push → notification → queue → dispatch → warm set → agent → containerd holds the digest; again after removal', async () => {
  const { digest } = await pushOciImage({
    registryHost: registry.host,
    repository: 'team/web',
    tag: '2.1.0',
    username: USER,
    password: SECRETS.NA_REGISTRY_PASSWORD,
  });
  await until('the pushed digest in the warm set', async () =>
    (await warmDigests()).includes(digest),
  );
  const pinned = `${registry.host}/team/web@${digest}`;
  assert.equal(await cri.imageStatus(pinned), undefined);

  const config = await nodeConfig('node-a', SECRETS.NA_REGISTRY_PASSWORD);
  const first = await agentOnce(config, 'node-a');
  assert.equal(first.code, 0, first.stderr);
  assert.deepEqual(
    first.lines.map((line) => line.outcome),
    ['pulled'],
  );
  const held = await cri.imageStatus(pinned);
  assert.ok(held?.repoDigests.includes(pinned), JSON.stringify(held));
  // Pulled by digest, named by the warm set's tag too: a pod naming the tag finds it (IfNotPresent).
  const tagged = await cri.imageStatus(`${registry.host}/team/web:2.1.0`);
  assert.equal(tagged?.id, held?.id);
  assert.ok(tagged?.repoTags.includes(`${registry.host}/team/web:2.1.0`), JSON.stringify(tagged));

  // Nothing missing: the next reconcile pulls nothing.
  const idle = await agentOnce(config, 'node-a');
  assert.equal(idle.code, 0, idle.stderr);
  assert.deepEqual(idle.lines, []);

  // The image is gone (the kubelet's GC, an operator): the next reconcile pulls it again.
  await cri.removeImage(pinned);
  assert.equal(await cri.imageStatus(pinned), undefined);
  const again = await agentOnce(config, 'node-a');
  assert.equal(again.code, 0, again.stderr);
  assert.deepEqual(
    again.lines.map((line) => line.outcome),
    ['pulled'],
  );
  assert.match(again.stderr, /gone from the runtime/);
  assert.ok(await cri.imageStatus(pinned));

  const row = (await groupStatus()).find((image) => image.digest === digest);
  assert.deepEqual(row?.present, ['node-a'], JSON.stringify(row));
  assert.deepEqual(row?.failed, []);
  assert.doesNotMatch(first.stderr + again.stderr, new RegExp(SECRETS.NA_REGISTRY_PASSWORD));
});

test('wrong registry credentials on a node: the agent reports an authentication failure', async () => {
  const { digest } = await pushOciImage({
    registryHost: registry.host,
    repository: 'team/jobs',
    tag: '1.0.0',
    username: USER,
    password: SECRETS.NA_REGISTRY_PASSWORD,
  });
  await until('the pushed digest in the warm set', async () =>
    (await warmDigests()).includes(digest),
  );
  const result = await agentOnce(await nodeConfig('node-b', 'wrong-password'), 'node-b');
  assert.equal(result.code, 1);
  const failed = result.lines.filter((line) => line.outcome === 'failed');
  assert.ok(failed.length >= 1, result.stdout);
  for (const line of failed) {
    assert.equal(line.cause, 'authentication', JSON.stringify(line));
  }
  assert.doesNotMatch(result.stdout + result.stderr, /wrong-password/);

  const row = (await groupStatus()).find((image) => image.digest === digest);
  assert.deepEqual(
    row?.failed.map((failure) => [failure.node, failure.cause]),
    [['node-b', 'authentication']],
    JSON.stringify(row),
  );
  assert.match(row?.failed[0]?.reason ?? '', /401|unauthori[sz]ed|refused/i);
  assert.doesNotMatch(JSON.stringify(row), /wrong-password/);
});
