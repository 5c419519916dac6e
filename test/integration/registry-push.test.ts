import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { LocalStack } from '#shared/local/stack.ts';
import { eventually } from '../support/async.ts';
import { type PushPipeline, startPushPipeline } from '../support/push-pipeline.ts';
import { pushOciImage, type RunningRegistry } from '../support/registry.ts';

// A real push, end to end: Debian's docker-registry (CNCF Distribution) with htpasswd auth notifies the
// local stack; skopeo pushes an OCI layout; the pushed digest must reach the warm set of every node group
// the rules select, and of no other.

const USER = 'ci-bot';
const SECRETS = {
  RP_REGISTRY_PASSWORD: 'registry-password-1',
  RP_NOTIFY_TOKEN: 'Bearer notify-token-1',
  RP_AGENT_TOKEN: 'agent-token-1',
};

const CONFIG = `
apiVersion: pullwarden.dev/v1
kind: Config
nodeGroups:
  groups:
    general: { token: { env: RP_AGENT_TOKEN } }
    gpu: { token: { env: RP_AGENT_TOKEN } }
    batch: { token: { env: RP_AGENT_TOKEN } }
webhooks:
  sources:
    distribution: { token: { env: RP_NOTIFY_TOKEN } }
prePull:
  rules:
    - name: team-releases
      images: ["127.0.0.1:*/team/**"]
      tags: { semver: ">=1.0.0" }
      nodeGroups: [general, gpu]
    - name: batch-jobs
      images: ["127.0.0.1:*/batch/*"]
      nodeGroups: [batch]
`;

let pipeline: PushPipeline;
let stack: LocalStack;
let registry: RunningRegistry;
let logs: string[];

before(async () => {
  pipeline = await startPushPipeline({
    config: CONFIG,
    secrets: SECRETS,
    username: USER,
    password: SECRETS.RP_REGISTRY_PASSWORD,
    notifyAuthorization: SECRETS.RP_NOTIFY_TOKEN,
  });
  ({ stack, registry, logs } = pipeline);
});
after(async () => {
  await pipeline?.stop();
});

async function warmDigests(nodeGroup: string): Promise<string[]> {
  const response = await fetch(`${stack.url}/v1/nodegroups/${nodeGroup}/warmset`, {
    headers: { authorization: `Bearer ${SECRETS.RP_AGENT_TOKEN}` },
  });
  assert.equal(response.status, 200);
  const body = (await response.json()) as { images: { digest: string; tag?: string }[] };
  return body.images.map((image) => image.digest);
}

async function until(what: string, done: () => Promise<boolean>): Promise<void> {
  await eventually(what, done, { explain: () => logs.join('\n') });
}

const push = (repository: string, tag: string, seed?: string) =>
  pushOciImage({
    registryHost: registry.host,
    repository,
    tag,
    username: USER,
    password: SECRETS.RP_REGISTRY_PASSWORD,
    ...(seed === undefined ? {} : { seed }),
  });

test('a skopeo push reaches the warm set of every selected node group', async () => {
  const { digest } = await push('team/api', '1.4.0');
  await until('the push in the warm sets of general and gpu', async () => {
    const [general, gpu] = await Promise.all([warmDigests('general'), warmDigests('gpu')]);
    return general.includes(digest) && gpu.includes(digest);
  });
  assert.deepEqual(await warmDigests('batch'), [], 'batch is not selected by any rule');
  assert.ok(
    logs.some((line) => /^POST \/webhooks\/distribution 202 /.test(line)),
    'the registry delivered to the webhook route',
  );
});

test('re-pushing the tag with new content moves it, and the warm sets follow', async () => {
  const first = await warmDigests('general');
  const { digest } = await push('team/api', '1.4.0', 'rebuilt');
  assert.ok(!first.includes(digest));
  await until('the rebuilt digest in general', async () =>
    (await warmDigests('general')).includes(digest),
  );
  assert.ok((await warmDigests('gpu')).includes(digest));
});

test('tags a rule does not take and other repositories stay out', async () => {
  const { digest: dev } = await push('team/api', 'dev');
  const { digest: job } = await push('batch/report', 'nightly');
  await until('the batch push in batch', async () => (await warmDigests('batch')).includes(job));
  assert.ok(!(await warmDigests('general')).includes(dev), 'semver >=1.0.0 does not take dev');
  assert.ok(!(await warmDigests('general')).includes(job));
});
